package gocodec

import (
	"reflect"
	"testing"
)

func TestValues(t *testing.T) {
	tests := []struct {
		in   any
		want any
	}{
		{in: 4.0, want: 4.0},
		{in: 3, want: int64(3)},
		{in: -3, want: int64(-3)},
		{in: "x", want: "x"},
		{in: []int{1, 2}, want: []any{int64(1), int64(2)}},
		{in: map[string]int{"a": 1}, want: map[string]any{"a": int64(1)}},
		{in: nil, want: nil},
		{in: []byte{1, 2}, want: []byte{1, 2}},
	}
	for _, tt := range tests {
		b, err := Marshal(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		var got any
		if err := Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%#v -> %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestFunctionAndFailure(t *testing.T) {
	name, err := DecodeFunction(EncodeFunction("inc"))
	if err != nil || name != "inc" {
		t.Fatal(name, err)
	}
	if _, err := DecodeFunction([]byte("\x80\x05pickle")); err == nil {
		t.Fatal("pickle accepted as Go function")
	}
	f := Failure{Function: "inc", Message: "boom", Stack: "s", Worker: "w", Kind: "panic"}
	back, err := DecodeFailure(EncodeFailure(f))
	if err != nil || back != f {
		t.Fatal(back, err)
	}
	res, _ := Marshal("ordinary result")
	if _, err := DecodeFailure(res); err == nil {
		t.Fatal("result decoded as failure")
	}
	if !IsGoSerializer(Serializer) || IsGoSerializer([]byte("\x80\x05")) {
		t.Fatal("serializer check")
	}
}

func FuzzUnmarshal(f *testing.F) {
	b, _ := Marshal(map[string]any{"a": []any{1, "x", 2.5}})
	f.Add(b)
	f.Add(EncodeFailure(Failure{Function: "f"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		_ = Unmarshal(b, &v)
		_, _ = DecodeFailure(b)
	})
}
