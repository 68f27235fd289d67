package protocol

import "testing"

func benchTask() *Task {
	id := NewTaskID()
	fn := NewObjectID([]byte("Client|0123456789abcdef0123456789abcdef"))
	arg := NewObjectID([]byte("Client|0123456789abcdef0123456789abcdef"))
	return &Task{TaskID: id[:], Source: []byte("Client|0123456789abcdef0123456789abcdef"), Metadata: TaskFlags{}.Encode(),
		FuncObjectID: fn[:], Args: []Argument{{Type: ArgObjectID, Data: arg[:]}}}
}

func BenchmarkEncodeTask(b *testing.B) {
	t := benchTask()
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			fastEncode(t)
		}
	})
	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			encodeGenerated(t)
		}
	})
}

func BenchmarkDecodeTask(b *testing.B) {
	raw := MustEncode(benchTask())
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			fastDecode(raw)
		}
	})
	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			decodeGenerated(raw)
		}
	})
}
