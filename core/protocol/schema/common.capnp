# Common types of the OpenGRIS Scaler wire protocol, written from spec/protocol.md §3.1-§3.2.
# Ordinals, types and union order are the wire contract; type ids and Go annotations are ours.
@0xe9512ad02b58d9c3;

using Go = import "/go.capnp";
$Go.package("wire");
$Go.import("github.com/scaler-go/scaler/core/protocol/wire");

enum TaskResultType {
  success @0;
  failed @1;
  failedWorkerDied @2;
}

enum TaskCancelConfirmType {
  canceled @0;
  cancelFailed @1;
  cancelNotFound @2;
}

enum TaskTransition {
  hasCapacity @0;
  taskResultSuccess @1;
  taskResultFailed @2;
  taskResultWorkerDied @3;
  taskCancel @4;
  taskCancelConfirmCanceled @5;
  taskCancelConfirmFailed @6;
  taskCancelConfirmNotFound @7;
  balanceTaskCancel @8;
  workerDisconnect @9;
  schedulerHasTask @10;
  schedulerHasNoTask @11;
}

enum TaskState {
  inactive @0;
  running @1;
  canceling @2;
  balanceCanceling @3;
  success @4;
  failed @5;
  failedWorkerDied @6;
  canceled @7;
  canceledNotFound @8;
  balanceCanceled @9;
  workerDisconnecting @10;
}

enum WorkerState {
  connected @0;
  disconnected @1;
}

struct TaskCapability {
  name @0 :Text;
  value @1 :Int64;
}

struct ObjectMetadata {
  objectIds @0 :List(Data);
  objectTypes @1 :List(ObjectContentType);
  objectNames @2 :List(Data);

  enum ObjectContentType {
    serializer @0;
    object @1;
  }
}

struct ObjectStorageAddress {
  host @0 :Text;
  port @1 :UInt16;
  scheme @2 :Text;
}
