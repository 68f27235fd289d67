// Package objstore is the object storage server (scaler_object_storage_server) and its Go
// client, speaking the protocol of spec/protocol.md §5 over YMQ.
//
// Server layout: one goroutine (Server.Run) owns every piece of mutable state: the per-peer
// pairing of request headers with their payloads (intake) and the object store with its
// deferred requests (store). It processes requests strictly in arrival order across all
// connections, as the reference server does.
//
// Equal payloads are stored once (content de-duplication with reference counts). Unlike the
// reference, which trusts a 64-bit hash, two contents are only ever shared after comparing
// their bytes. Small payloads are hashed on the spot; a large one is stored and its set
// answered at once, while a pool of hashers computes its hash in parallel parts, and the
// loop merges it into an equal content when the hash comes back. So hashing is never on the
// path of an answer and never holds up other peers; info requests, whose totals depend on
// the outcome, wait until no merge is pending.
//
// Payload bytes are never copied: the slice the transport delivers for a set is the slice
// kept in the store, and a get hands that same slice (or a prefix) back to the transport.
//
// Client layout: callers register each request and write it in one step under a mutex, and
// one reader goroutine per Client matches responses to requests by id, so any number of
// goroutines can pipeline requests over one connection.
package objstore
