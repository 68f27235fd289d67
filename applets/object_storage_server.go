package applets

import (
	"context"

	"github.com/scaler-go/scaler/core/config"
	"github.com/scaler-go/scaler/core/config/address"
	"github.com/scaler-go/scaler/core/objstore"
)

func init() {
	Register(Applet{Name: "scaler_object_storage_server", Summary: "start the object storage server", Run: runObjectStorageServer})
}

type objectStorageOptions struct {
	Address        address.Address
	Identity       string
	MaxMessageSize uint64
	Logging        config.Logging
	TLS            config.TLS
}

func objectStorageCommand(o *objectStorageOptions) *config.Command {
	return &config.Command{
		Name:    "scaler_object_storage_server",
		Usage:   "start the object storage server",
		Section: config.SectionObjectStorageServer,
		Groups: []*config.Group{
			config.NewGroup("Object storage",
				config.Address(&o.Address, "object-storage-address", "", "address to listen on: tcp://HOST:PORT, tls://, ws://, wss:// or ipc://PATH").
					Positional().Required().TOMLAliases("bind_address"),
				config.String(&o.Identity, "identity", "", objstore.DefaultIdentity, "identity announced to every peer"),
				config.Uint64(&o.MaxMessageSize, "max-message-size", "", 0,
					"largest object or message accepted from a peer, in bytes; a larger one closes that connection (0 = the host's memory)"),
			),
			config.LoggingGroup(&o.Logging),
			config.TLSGroup(&o.TLS),
		},
	}
}

func (o *objectStorageOptions) server(env Env, res *config.Result) (*objstore.Server, func() error, error) {
	log, closeLogs, err := newLogger(o.Logging, "object_storage", env, res)
	if err != nil {
		return nil, nil, err
	}
	srv := objstore.NewServer(objstore.ServerOptions{
		Address: o.Address, Identity: o.Identity, TLSCertFile: o.TLS.Cert, TLSKeyFile: o.TLS.Key,
		MaxMessageSize: o.MaxMessageSize, Logger: log,
	})
	return srv, closeLogs, nil
}

func runObjectStorageServer(ctx context.Context, env Env, args []string) error {
	var o objectStorageOptions
	return serve(ctx, env, args, objectStorageCommand(&o), o.server)
}
