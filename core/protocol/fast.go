package protocol

// fastDecode and fastEncode are hooks for hand-written codecs of the hottest messages; they
// report false when they do not handle the input, and the generated code is used instead.
func fastDecode(b []byte) (Message, bool) { return nil, false }

func fastEncode(m Message) ([]byte, bool) { return nil, false }
