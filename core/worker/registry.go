package worker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"

	"github.com/scaler-go/scaler/core/gocodec"
)

// Func is a registered Go function.
type Func struct {
	name    string
	fn      reflect.Value
	typ     reflect.Type
	withCtx bool
	errOut  bool // last result is an error
	valOut  bool // has a non-error result
}

var (
	regMu     sync.RWMutex
	functions = map[string]*Func{}
	preloads  = map[string]func(ctx context.Context, args []any) error{}
)

var (
	contextType = reflect.TypeOf((*context.Context)(nil)).Elem()
	errorType   = reflect.TypeOf((*error)(nil)).Elem()
)

// Register makes fn callable by tasks under name. fn may take a context.Context first
// (cancelled on task cancel or timeout), then any arguments CBOR can decode (variadic too),
// and return nothing, a value, an error, or a value and an error. Register panics on a
// duplicate name or an unusable fn: both are programming errors found at start-up.
//
// A program that registers its functions and then calls applets.Main(os.Args) is a complete
// cluster binary whose workers know those functions.
func Register(name string, fn any) {
	f, err := newFunc(name, fn)
	if err != nil {
		panic("worker.Register: " + err.Error())
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := functions[name]; dup {
		panic("worker.Register: function registered twice: " + name)
	}
	functions[name] = f
}

// RegisterPreload makes fn runnable by `--preload name` or `--preload 'name(arg, ...)'`
// (arguments are Python-style literals), once per worker before it takes tasks.
func RegisterPreload(name string, fn func(ctx context.Context, args []any) error) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := preloads[name]; dup {
		panic("worker.RegisterPreload: registered twice: " + name)
	}
	preloads[name] = fn
}

// Lookup returns the function registered under name.
func Lookup(name string) (*Func, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	f, ok := functions[name]
	return f, ok
}

// Registered returns the names of all registered functions, sorted.
func Registered() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(functions))
	for n := range functions {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func newFunc(name string, fn any) (*Func, error) {
	if name == "" {
		return nil, errors.New("empty function name")
	}
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return nil, fmt.Errorf("%s: %T is not a function", name, fn)
	}
	t := v.Type()
	f := &Func{name: name, fn: v, typ: t}
	f.withCtx = t.NumIn() > 0 && t.In(0) == contextType
	switch t.NumOut() {
	case 0:
	case 1:
		if t.Out(0) == errorType {
			f.errOut = true
		} else {
			f.valOut = true
		}
	case 2:
		if t.Out(1) != errorType {
			return nil, fmt.Errorf("%s: a function with two results must return (T, error)", name)
		}
		f.valOut, f.errOut = true, true
	default:
		return nil, fmt.Errorf("%s: functions return at most (T, error)", name)
	}
	return f, nil
}

// Name is the registered name.
func (f *Func) Name() string { return f.name }

// ArgumentError means the task's arguments do not fit the function's parameters.
type ArgumentError struct{ Msg string }

func (e *ArgumentError) Error() string { return e.Msg }

// Call decodes the CBOR arguments into the parameter types, calls the function and encodes
// its result. A returned error is the function's own error (or an ArgumentError); panics
// propagate to the caller, which turns them into task failures.
func (f *Func) Call(ctx context.Context, args [][]byte) ([]byte, error) {
	in, err := f.decodeArgs(ctx, args)
	if err != nil {
		return nil, err
	}
	out := f.fn.Call(in)
	var result any
	if f.valOut {
		result = out[0].Interface()
	}
	if f.errOut {
		if e := out[len(out)-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
	}
	return gocodec.Marshal(result)
}

func (f *Func) decodeArgs(ctx context.Context, args [][]byte) ([]reflect.Value, error) {
	t := f.typ
	first := 0
	var in []reflect.Value
	if f.withCtx {
		in = append(in, reflect.ValueOf(ctx))
		first = 1
	}
	fixed := t.NumIn() - first
	if t.IsVariadic() {
		fixed--
		if len(args) < fixed {
			return nil, &ArgumentError{fmt.Sprintf("%s takes at least %d arguments, got %d", f.name, fixed, len(args))}
		}
	} else if len(args) != fixed {
		return nil, &ArgumentError{fmt.Sprintf("%s takes %d arguments, got %d", f.name, fixed, len(args))}
	}
	for i, raw := range args {
		var pt reflect.Type
		if i < fixed {
			pt = t.In(first + i)
		} else {
			pt = t.In(t.NumIn() - 1).Elem()
		}
		p := reflect.New(pt)
		if err := gocodec.Unmarshal(raw, p.Interface()); err != nil {
			return nil, &ArgumentError{fmt.Sprintf("%s argument %d: %v", f.name, i, err)}
		}
		in = append(in, p.Elem())
	}
	return in, nil
}
