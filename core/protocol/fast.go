package protocol

import (
	"encoding/binary"
	"math"
)

// Hand-written Cap'n Proto for the messages every task passes through several times (Task,
// TaskResult, ObjectInstruction, StateTask). The generated code costs a few microseconds and
// several allocations per message; these write the same bytes (tests compare them with the
// generated encoder) and read the common single-segment shape in place. Anything unusual —
// several segments, far pointers, unexpected list encodings — falls back to the generated
// code, which remains the reference.

// ---- encoding ----

type fastBuilder struct {
	b []byte // whole message: 8-byte segment table, then the segment
}

const segStart = 8

func newFastBuilder(sizeHint int) fastBuilder {
	return fastBuilder{b: make([]byte, segStart, segStart+sizeHint)}
}

// alloc reserves n zeroed words and returns the word index of the first.
func (f *fastBuilder) alloc(n int) int {
	w := (len(f.b) - segStart) / 8
	need := len(f.b) + n*8
	if need > cap(f.b) {
		nb := make([]byte, need, 2*need)
		copy(nb, f.b)
		f.b = nb
	} else {
		// Bytes past len were never written, so they are still zero.
		f.b = f.b[:need]
	}
	return w
}

func (f *fastBuilder) word(i int) []byte { return f.b[segStart+i*8 : segStart+i*8+8] }

func (f *fastBuilder) structPtr(at, target int, data, ptrs uint16) {
	off := int32(target - at - 1)
	binary.LittleEndian.PutUint32(f.word(at), uint32(off)<<2)
	binary.LittleEndian.PutUint16(f.word(at)[4:], data)
	binary.LittleEndian.PutUint16(f.word(at)[6:], ptrs)
}

func (f *fastBuilder) listPtr(at, target int, elemSize uint32, count uint32) {
	off := int32(target - at - 1)
	binary.LittleEndian.PutUint32(f.word(at), uint32(off)<<2|1)
	binary.LittleEndian.PutUint32(f.word(at)[4:], count<<3|elemSize)
}

// compositeList allocates a struct list of n elements and returns the first element's word.
func (f *fastBuilder) compositeList(at, n int, data, ptrs uint16) int {
	size := int(data) + int(ptrs)
	tag := f.alloc(1 + n*size)
	f.listPtr(at, tag, 7, uint32(n*size))
	binary.LittleEndian.PutUint32(f.word(tag), uint32(n)<<2)
	binary.LittleEndian.PutUint16(f.word(tag)[4:], data)
	binary.LittleEndian.PutUint16(f.word(tag)[6:], ptrs)
	return tag + 1
}

// bytes writes a Data field (nil stays a null pointer, as the generated code does).
func (f *fastBuilder) bytes(at int, v []byte) {
	if v == nil {
		return
	}
	w := f.alloc((len(v) + 7) / 8)
	copy(f.b[segStart+w*8:], v)
	f.listPtr(at, w, 2, uint32(len(v)))
}

// text writes a Text field ("" is a null pointer).
func (f *fastBuilder) text(at int, s string) {
	if s == "" {
		return
	}
	n := len(s) + 1
	w := f.alloc((n + 7) / 8)
	copy(f.b[segStart+w*8:], s)
	f.listPtr(at, w, 2, uint32(n))
}

func (f *fastBuilder) dataList(at int, items [][]byte) {
	l := f.alloc(len(items))
	f.listPtr(at, l, 6, uint32(len(items)))
	for i, v := range items {
		if len(v) > 0 { // the generated code leaves empty list items null
			f.bytes(l+i, v)
		}
	}
}

func (f *fastBuilder) capabilities(at int, caps []Capability) {
	el := f.compositeList(at, len(caps), 1, 1)
	for i, c := range caps {
		w := el + i*2
		binary.LittleEndian.PutUint64(f.word(w), uint64(c.Value))
		f.text(w+1, c.Name)
	}
}

// root writes the root pointer and the Message struct with the union tag, and returns the
// word index of Message's pointer slot.
func (f *fastBuilder) root(k Kind) int {
	f.alloc(1)
	msg := f.alloc(2)
	f.structPtr(0, msg, 1, 1)
	binary.LittleEndian.PutUint16(f.word(msg), uint16(k))
	return msg + 1
}

func (f *fastBuilder) finish() []byte {
	binary.LittleEndian.PutUint32(f.b[0:], 0)
	binary.LittleEndian.PutUint32(f.b[4:], uint32((len(f.b)-segStart)/8))
	return f.b
}

func dataWords(b []byte) int { return (len(b) + 7) / 8 }

func fastEncode(m Message) ([]byte, bool) {
	switch m := m.(type) {
	case *Task:
		f := newFastBuilder(taskSize(m))
		p := f.root(KindTask)
		f.task(p, m)
		return f.finish(), true
	case *TaskResult:
		hint := 9*8 + dataWords(m.TaskID)*8 + dataWords(m.Metadata)*8 + len(m.Results)*48
		f := newFastBuilder(hint)
		p := f.root(KindTaskResult)
		s := f.alloc(4) // 1 data word, 3 pointers
		f.structPtr(p, s, 1, 3)
		f.bytes(s+1, m.TaskID)
		binary.LittleEndian.PutUint16(f.word(s), uint16(m.Type))
		f.bytes(s+2, m.Metadata)
		f.dataList(s+3, m.Results)
		return f.finish(), true
	case *ObjectInstruction:
		hint := 12*8 + dataWords(m.User)*8 + len(m.IDs)*(8+32) + len(m.Types)*2 + 8
		for _, n := range m.Names {
			hint += 8 + dataWords(n)*8
		}
		f := newFastBuilder(hint)
		p := f.root(KindObjectInstruction)
		s := f.alloc(3) // 1 data, 2 pointers
		f.structPtr(p, s, 1, 2)
		binary.LittleEndian.PutUint16(f.word(s), uint16(m.Type))
		f.bytes(s+1, m.User)
		md := f.alloc(3)
		f.structPtr(s+2, md, 0, 3)
		f.dataList(md, m.IDs)
		if len(m.Types) > 0 || m.Type == InstructionCreate {
			l := f.alloc((len(m.Types)*2 + 7) / 8)
			f.listPtr(md+1, l, 3, uint32(len(m.Types)))
			for i, t := range m.Types {
				binary.LittleEndian.PutUint16(f.b[segStart+l*8+i*2:], uint16(t))
			}
		}
		if len(m.Names) > 0 || m.Type == InstructionCreate {
			f.dataList(md+2, m.Names)
		}
		return f.finish(), true
	case *StateTask:
		f := newFastBuilder(256)
		p := f.root(KindStateTask)
		s := f.alloc(6) // 1 data, 5 pointers
		f.structPtr(p, s, 1, 5)
		f.bytes(s+1, m.TaskID)
		f.bytes(s+2, m.FunctionName)
		binary.LittleEndian.PutUint16(f.word(s), uint16(m.State))
		f.bytes(s+3, m.Worker)
		f.capabilities(s+4, m.Capabilities)
		f.bytes(s+5, m.Metadata)
		return f.finish(), true
	}
	return nil, false
}

func taskSize(t *Task) int {
	n := 12*8 + (dataWords(t.TaskID)+dataWords(t.Source)+dataWords(t.Metadata)+dataWords(t.FuncObjectID))*8
	for _, a := range t.Args {
		n += 16 + dataWords(a.Data)*8
	}
	for _, c := range t.Capabilities {
		n += 16 + (len(c.Name)/8+1)*8
	}
	return n
}

func (f *fastBuilder) task(at int, t *Task) {
	s := f.alloc(6) // 0 data, 6 pointers
	f.structPtr(at, s, 0, 6)
	f.bytes(s, t.TaskID)
	f.bytes(s+1, t.Source)
	f.bytes(s+2, t.Metadata)
	f.bytes(s+3, t.FuncObjectID)
	el := f.compositeList(s+4, len(t.Args), 1, 1)
	for i, a := range t.Args {
		w := el + i*2
		binary.LittleEndian.PutUint16(f.word(w), uint16(a.Type))
		f.bytes(w+1, a.Data)
	}
	f.capabilities(s+5, t.Capabilities)
}

// ---- decoding ----

// fastReader reads a single-segment message with bounds checks on every access. ok turns
// false on anything it does not handle; the caller then uses the generated decoder.
type fastReader struct {
	seg []byte
	ok  bool
}

type fastStruct struct {
	data, ptrs int // byte offset of the data section and of the pointer section
	dataLen    int // bytes
	nptrs      int
}

func (r *fastReader) ptr(wordOff int) uint64 {
	if wordOff < 0 || (wordOff+1)*8 > len(r.seg) {
		r.ok = false
		return 0
	}
	return binary.LittleEndian.Uint64(r.seg[wordOff*8:])
}

// structAt follows the struct pointer at word p; a null pointer gives an empty struct.
func (r *fastReader) structAt(p int) fastStruct {
	v := r.ptr(p)
	if !r.ok || v == 0 {
		return fastStruct{}
	}
	if v&3 != 0 {
		r.ok = false
		return fastStruct{}
	}
	off := int(int32(uint32(v)) >> 2)
	start := p + 1 + off
	dw := int(uint16(v >> 32))
	pc := int(uint16(v >> 48))
	if start < 0 || (start+dw+pc)*8 > len(r.seg) {
		r.ok = false
		return fastStruct{}
	}
	return fastStruct{data: start * 8, dataLen: dw * 8, ptrs: (start + dw) * 8, nptrs: pc}
}

func (s fastStruct) ptrWord(i int) (int, bool) {
	if i >= s.nptrs {
		return 0, false
	}
	return s.ptrs/8 + i, true
}

func (r *fastReader) u16(s fastStruct, byteOff int) uint16 {
	if byteOff+2 > s.dataLen {
		return 0
	}
	return binary.LittleEndian.Uint16(r.seg[s.data+byteOff:])
}

func (r *fastReader) u64(s fastStruct, byteOff int) uint64 {
	if byteOff+8 > s.dataLen {
		return 0
	}
	return binary.LittleEndian.Uint64(r.seg[s.data+byteOff:])
}

// listAt follows a list pointer; it returns the content's byte offset, element size code and
// count (for composite lists: the tag's element count and sizes).
func (r *fastReader) listAt(p int) (start, code, count int, null bool) {
	v := r.ptr(p)
	if !r.ok {
		return 0, 0, 0, true
	}
	if v == 0 {
		return 0, 0, 0, true
	}
	if v&3 != 1 {
		r.ok = false
		return 0, 0, 0, true
	}
	off := int(int32(uint32(v)) >> 2)
	w := p + 1 + off
	code = int(uint32(v>>32) & 7)
	count = int(uint32(v>>32) >> 3)
	var bytesLen int
	switch code {
	case 2:
		bytesLen = count
	case 3:
		bytesLen = count * 2
	case 6:
		bytesLen = count * 8
	case 7:
		bytesLen = (count + 1) * 8 // words plus the tag
	default:
		r.ok = false
		return 0, 0, 0, true
	}
	if w < 0 || w*8+bytesLen > len(r.seg) {
		r.ok = false
		return 0, 0, 0, true
	}
	return w * 8, code, count, false
}

// bytes reads the Data field in pointer slot i of s: nil for a null pointer (or a slot
// that s is too small to have, as Cap'n Proto reads it), aliasing otherwise.
func (r *fastReader) bytes(s fastStruct, i int) []byte {
	p, ok := s.ptrWord(i)
	if !ok {
		return nil
	}
	return r.bytesAt(p)
}

// bytesAt reads the Data pointer at word p.
func (r *fastReader) bytesAt(p int) []byte {
	start, code, count, null := r.listAt(p)
	if null {
		return nil
	}
	if code != 2 {
		r.ok = false
		return nil
	}
	return r.seg[start : start+count : start+count]
}

func (r *fastReader) text(s fastStruct, i int) string {
	b := r.bytes(s, i)
	if len(b) == 0 {
		return ""
	}
	if b[len(b)-1] != 0 {
		r.ok = false
		return ""
	}
	return string(b[:len(b)-1])
}

func (r *fastReader) dataList(s fastStruct, i int) [][]byte {
	p, ok := s.ptrWord(i)
	if !ok {
		return nil
	}
	start, code, count, null := r.listAt(p)
	if null || count == 0 {
		if !null && code != 6 {
			r.ok = false
		}
		return nil
	}
	if code != 6 {
		r.ok = false
		return nil
	}
	out := make([][]byte, count)
	for i := range out {
		out[i] = r.bytesAt(start/8 + i)
		if !r.ok {
			return nil
		}
	}
	return out
}

// composite returns the elements of a composite list as structs.
func (r *fastReader) composite(s fastStruct, i int) []fastStruct {
	p, ok := s.ptrWord(i)
	if !ok {
		return nil
	}
	start, code, words, null := r.listAt(p)
	if null {
		return nil
	}
	if code != 7 {
		r.ok = false
		return nil
	}
	tag := binary.LittleEndian.Uint64(r.seg[start:])
	if tag&3 != 0 {
		r.ok = false
		return nil
	}
	n := int(uint32(tag) >> 2)
	dw, pc := int(uint16(tag>>32)), int(uint16(tag>>48))
	if n == 0 {
		return nil
	}
	if (dw+pc)*n > words || dw+pc == 0 {
		r.ok = false
		return nil
	}
	out := make([]fastStruct, n)
	first := start/8 + 1
	for i := range out {
		w := first + i*(dw+pc)
		out[i] = fastStruct{data: w * 8, dataLen: dw * 8, ptrs: (w + dw) * 8, nptrs: pc}
	}
	return out
}

func (r *fastReader) capabilities(s fastStruct, i int) []Capability {
	els := r.composite(s, i)
	if len(els) == 0 {
		return nil
	}
	out := make([]Capability, len(els))
	for i, e := range els {
		out[i] = Capability{Name: r.text(e, 0), Value: int64(r.u64(e, 0))}
	}
	return out
}

func (r *fastReader) task(s fastStruct) *Task {
	t := &Task{}
	t.TaskID = r.bytes(s, 0)
	t.Source = r.bytes(s, 1)
	t.Metadata = r.bytes(s, 2)
	t.FuncObjectID = r.bytes(s, 3)
	if els := r.composite(s, 4); len(els) > 0 {
		t.Args = make([]Argument, len(els))
		for i, e := range els {
			t.Args[i] = Argument{Type: ArgumentType(r.u16(e, 0)), Data: r.bytes(e, 0)}
		}
	}
	t.Capabilities = r.capabilities(s, 5)
	return t
}

func fastDecode(b []byte) (Message, bool) {
	if len(b) < 16 || binary.LittleEndian.Uint32(b) != 0 {
		return nil, false
	}
	words := int(binary.LittleEndian.Uint32(b[4:]))
	if words <= 0 || words > math.MaxInt32/8 || len(b) != 8+words*8 {
		return nil, false
	}
	r := &fastReader{seg: b[8:], ok: true}
	root := r.structAt(0)
	if !r.ok || root.dataLen < 8 || root.nptrs < 1 {
		return nil, false
	}
	p, _ := root.ptrWord(0)
	var m Message
	switch Kind(r.u16(root, 0)) {
	case KindTask:
		s := r.structAt(p)
		m = r.task(s)
	case KindTaskResult:
		s := r.structAt(p)
		res := &TaskResult{Type: TaskResultType(r.u16(s, 0))}
		res.TaskID = r.bytes(s, 0)
		res.Metadata = r.bytes(s, 1)
		res.Results = r.dataList(s, 2)
		m = res
	case KindObjectInstruction:
		s := r.structAt(p)
		oi := &ObjectInstruction{Type: InstructionType(r.u16(s, 0))}
		oi.User = r.bytes(s, 0)
		if w, ok := s.ptrWord(1); ok && r.ptr(w) != 0 {
			md := r.structAt(w)
			oi.IDs = r.dataList(md, 0)
			if mw, mok := md.ptrWord(1); mok {
				start, code, count, null := r.listAt(mw)
				if !null {
					if code != 3 {
						r.ok = false
					} else if count > 0 {
						oi.Types = make([]ObjectContentType, count)
						for i := range oi.Types {
							oi.Types[i] = ObjectContentType(binary.LittleEndian.Uint16(r.seg[start+i*2:]))
						}
					}
				}
			}
			oi.Names = r.dataList(md, 2)
		}
		m = oi
	default:
		return nil, false
	}
	if !r.ok {
		return nil, false
	}
	return m, true
}
