# Object storage request/response headers (spec/protocol.md §3.6, §5.3).
# These are roots of their own messages, never wrapped in Message.
@0xf698e612cb50ecae;

using Go = import "/go.capnp";
$Go.package("wire");
$Go.import("github.com/scaler-go/scaler/core/protocol/wire");

struct ObjectID $Go.name("CapnpObjectID") {
  field0 @0 :UInt64;
  field1 @1 :UInt64;
  field2 @2 :UInt64;
  field3 @3 :UInt64;
}

struct ObjectRequestHeader {
  objectID @0 :ObjectID;
  payloadLength @1 :UInt64;
  requestID @2 :UInt64;
  requestType @3 :ObjectRequestType;

  enum ObjectRequestType {
    setObject @0;
    getObject @1;
    deleteObject @2;
    duplicateObjectID @3;
    infoGetTotal @4;
  }
}

struct ObjectResponseHeader {
  objectID @0 :ObjectID;
  payloadLength @1 :UInt64;
  responseID @2 :UInt64;
  responseType @3 :ObjectResponseType;

  enum ObjectResponseType {
    setOK @0;
    getOK @1;
    delOK @2;
    delNotExists @3;
    duplicateOK @4;
    infoGetTotalOK @5;
  }
}
