package objstore

import (
	"fmt"
	"log/slog"

	"github.com/scaler-go/scaler/core/protocol"
	"github.com/scaler-go/scaler/core/transport"
)

// intake turns the binder's stream of messages and peer events into requests: it decodes
// headers, pairs set and duplicate headers with the next message of the same peer, and
// rejects malformed input. Like the store it belongs to the server loop.
type intake struct {
	// pending holds, per peer, a set or duplicate header whose payload has not arrived.
	pending map[string]protocol.OSSHeader
	// rejected peers were told to go away; whatever they had already sent is dropped until
	// their connection ends or they connect again.
	rejected map[string]struct{}
	maxSet   uint64
	log      *slog.Logger
}

func newIntake(maxSet uint64, log *slog.Logger) *intake {
	return &intake{
		pending:  make(map[string]protocol.OSSHeader),
		rejected: make(map[string]struct{}),
		maxSet:   maxSet,
		log:      log,
	}
}

// feed handles one binder item; ok is false when it completes no request.
func (in *intake) feed(ev transport.Inbound, r *request) (ok bool) {
	switch ev.Kind {
	case transport.EventConnected:
		delete(in.rejected, ev.Peer)
		return false
	case transport.EventAborted:
		// Keep a pending header: the peer reconnects under the same identity, and if its
		// payload was still queued on its side it arrives now and completes the request;
		// if it was lost, the next message has the wrong size and the torn request is
		// dropped below (spec/protocol.md §5.2). Deferred gets are kept for the same reason:
		// the binder queues their answers until the peer is back.
		return false
	case transport.EventClosed:
		delete(in.pending, ev.Peer)
		delete(in.rejected, ev.Peer)
		*r = request{kind: reqPeerGone, peer: ev.Peer}
		return true
	case transport.EventMessage:
	default:
		return false
	}
	peer, msg := ev.Peer, ev.Data
	if _, bad := in.rejected[peer]; bad {
		return false
	}
	if h, waiting := in.pending[peer]; waiting {
		delete(in.pending, peer)
		if uint64(len(msg)) == h.PayloadLength {
			return in.payload(peer, h, msg, r)
		}
		in.log.Warn("object storage: partially delivered request, treating the next message as a new request",
			"peer", peer, "request_id", h.ID, "object_id", h.ObjectID.String(),
			"payload_length", h.PayloadLength, "received", len(msg))
	}
	h, err := protocol.DecodeOSSHeader(msg)
	if err != nil {
		return in.reject(peer, err, r)
	}
	switch h.Type {
	case protocol.OSSSet:
		if h.PayloadLength > in.maxSet {
			return in.reject(peer, fmt.Errorf("set request for %d bytes exceeds the limit of %d", h.PayloadLength, in.maxSet), r)
		}
		in.pending[peer] = h
		return false
	case protocol.OSSDuplicate:
		if h.PayloadLength != protocol.OSSDuplicatePayloadSize {
			return in.reject(peer, fmt.Errorf("duplicate request announces a %d-byte payload, want %d", h.PayloadLength, protocol.OSSDuplicatePayloadSize), r)
		}
		in.pending[peer] = h
		return false
	case protocol.OSSGet:
		*r = request{kind: reqGet, peer: peer, hdr: h}
	case protocol.OSSDelete:
		*r = request{kind: reqDelete, peer: peer, hdr: h}
	case protocol.OSSInfo:
		*r = request{kind: reqInfo, peer: peer, hdr: h}
	default:
		return in.reject(peer, fmt.Errorf("unknown request type %d", h.Type), r)
	}
	return true
}

func (in *intake) payload(peer string, h protocol.OSSHeader, msg []byte, r *request) bool {
	if h.Type == protocol.OSSSet {
		*r = request{kind: reqSet, peer: peer, hdr: h, payload: msg}
		return true
	}
	src, err := protocol.DecodeOSSObjectID(msg)
	if err != nil {
		return in.reject(peer, err, r)
	}
	*r = request{kind: reqDuplicate, peer: peer, hdr: h, src: src}
	return true
}

func (in *intake) reject(peer string, why error, r *request) bool {
	in.log.Warn("object storage: closing connection after a malformed request", "peer", peer, "error", why)
	delete(in.pending, peer)
	in.rejected[peer] = struct{}{}
	*r = request{kind: reqPeerBad, peer: peer}
	return true
}
