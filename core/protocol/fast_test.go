package protocol

import (
	"bytes"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

func genBytes(t *rapid.T, label string, allowNil bool) []byte {
	if allowNil && rapid.Bool().Draw(t, label+"_nil") {
		return nil
	}
	return rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, label)
}

func genCaps(t *rapid.T) []Capability {
	n := rapid.IntRange(0, 3).Draw(t, "ncaps")
	var out []Capability
	for i := 0; i < n; i++ {
		out = append(out, Capability{Name: rapid.StringN(0, 12, -1).Draw(t, "capname"), Value: rapid.Int64().Draw(t, "capval")})
	}
	return out
}

func genMessage(t *rapid.T) Message {
	switch rapid.IntRange(0, 3).Draw(t, "kind") {
	case 0:
		m := &Task{TaskID: genBytes(t, "id", true), Source: genBytes(t, "src", true), Metadata: genBytes(t, "md", true),
			FuncObjectID: genBytes(t, "fn", true), Capabilities: genCaps(t)}
		for i, n := 0, rapid.IntRange(0, 4).Draw(t, "nargs"); i < n; i++ {
			m.Args = append(m.Args, Argument{Type: ArgumentType(rapid.IntRange(0, 1).Draw(t, "at")), Data: genBytes(t, "arg", true)})
		}
		return m
	case 1:
		m := &TaskResult{TaskID: genBytes(t, "id", true), Type: TaskResultType(rapid.IntRange(0, 2).Draw(t, "rt")), Metadata: genBytes(t, "md", true)}
		for i, n := 0, rapid.IntRange(0, 3).Draw(t, "nres"); i < n; i++ {
			m.Results = append(m.Results, genBytes(t, "res", false))
		}
		return m
	case 2:
		m := &ObjectInstruction{Type: InstructionType(rapid.IntRange(0, 2).Draw(t, "it")), User: genBytes(t, "user", true)}
		n := rapid.IntRange(0, 4).Draw(t, "nids")
		for i := 0; i < n; i++ {
			m.IDs = append(m.IDs, genBytes(t, "oid", false))
			if m.Type == InstructionCreate {
				m.Types = append(m.Types, ObjectContentType(rapid.IntRange(0, 1).Draw(t, "ot")))
				m.Names = append(m.Names, genBytes(t, "name", false))
			}
		}
		return m
	default:
		return &StateTask{TaskID: genBytes(t, "id", true), FunctionName: genBytes(t, "fn", true), State: TaskState(rapid.IntRange(0, 10).Draw(t, "st")),
			Worker: genBytes(t, "w", true), Capabilities: genCaps(t), Metadata: genBytes(t, "md", true)}
	}
}

// The fast encoder writes exactly what the generated code writes, and the fast decoder reads
// exactly what the generated decoder reads.
func TestFastCodecMatchesGenerated(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genMessage(t)
		fast, ok := fastEncode(m)
		if !ok {
			t.Fatalf("fast encoder refused %T", m)
		}
		slow, err := encodeGenerated(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fast, slow) {
			t.Fatalf("%T encodings differ:\nfast % x\nslow % x", m, fast, slow)
		}
		want, err := decodeGenerated(slow)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := fastDecode(slow)
		if _, isState := m.(*StateTask); isState {
			return // decoded by the generated code only
		}
		if !ok {
			t.Fatalf("fast decoder refused %T", m)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodings differ:\nfast %#v\nslow %#v", got, want)
		}
	})
}

// On any input the fast decoder either declines or agrees with the generated decoder.
func FuzzFastDecode(f *testing.F) {
	for _, m := range []Message{
		&Task{TaskID: []byte("0123456789abcdef"), Source: []byte("Client|x"), Args: []Argument{{Type: ArgObjectID, Data: []byte("x")}}, Capabilities: []Capability{{Name: "gpu", Value: -1}}},
		&TaskResult{TaskID: []byte("t"), Results: [][]byte{[]byte("r")}},
		&ObjectInstruction{Type: InstructionCreate, User: []byte("u"), IDs: [][]byte{[]byte("i")}, Types: []ObjectContentType{1}, Names: [][]byte{[]byte("n")}},
	} {
		b, _ := encodeGenerated(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := fastDecode(b)
		if !ok {
			return
		}
		want, err := decodeGenerated(b)
		if err != nil {
			t.Fatalf("fast decoder accepted what the generated one rejects: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodings differ:\nfast %#v\nslow %#v", got, want)
		}
	})
}
