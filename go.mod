module github.com/scaler-go/scaler

go 1.26.0

require (
	capnproto.org/go/capnp/v3 v3.1.0-alpha.2 // indirect
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/colega/zeropool v0.0.0-20230505084239-6fb4a4f75381 // indirect
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/fxamacker/cbor/v2 v2.10.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/pebbe/zmq4 v1.4.0 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/urfave/cli/v2 v2.27.7 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
	go.uber.org/goleak v1.3.0 // indirect
	golang.org/x/sync v0.7.0 // indirect
	pgregory.net/rapid v1.3.0 // indirect
)

tool capnproto.org/go/capnp/v3/capnpc-go
