package verify

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The L1 action hash is over msgpack(action) as hyperliquid-python-sdk
// packs the dict it sends (msgpack.packb, keys in the order of the JSON),
// so the body is read with its key order kept and numbers as written.

// hlMember is one member of a JSON object, in the order it was sent.
type hlMember struct {
	key string
	val any
}

// hlObject is a JSON object with its key order.
type hlObject []hlMember

func (o hlObject) get(key string) (any, bool) {
	for _, m := range o {
		if m.key == key {
			return m.val, true
		}
	}
	return nil, false
}

// hlDecode parses JSON into hlObject, []any, string, json.Number, bool and
// nil, refusing duplicate keys and trailing data.
func hlDecode(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := hlValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func hlValue(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			var o hlObject
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				if _, dup := o.get(k); dup {
					return nil, fmt.Errorf("duplicate key %q", clip(k))
				}
				v, err := hlValue(d)
				if err != nil {
					return nil, err
				}
				o = append(o, hlMember{k, v})
			}
			if _, err := d.Token(); err != nil {
				return nil, err
			}
			if o == nil {
				o = hlObject{}
			}
			return o, nil
		case '[':
			a := []any{}
			for d.More() {
				v, err := hlValue(d)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := d.Token(); err != nil {
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	}
	return t, nil
}

// hlMsgpack appends v's msgpack encoding as Python's msgpack.packb writes
// it: the smallest integer form, float64 for a number with a fraction or
// exponent (Python's json reads those as float), str8/16/32 for strings.
func hlMsgpack(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, 0xc0), nil
	case bool:
		if v {
			return append(b, 0xc3), nil
		}
		return append(b, 0xc2), nil
	case string:
		n := len(v)
		switch {
		case n < 32:
			b = append(b, 0xa0|byte(n))
		case n < 1<<8:
			b = append(b, 0xd9, byte(n))
		case n < 1<<16:
			b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
		default:
			b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
		}
		return append(b, v...), nil
	case json.Number:
		return hlMsgpackNumber(b, string(v))
	case []any:
		b = hlMsgpackLen(b, len(v), 0x90, 0xdc, 0xdd)
		for _, e := range v {
			var err error
			if b, err = hlMsgpack(b, e); err != nil {
				return nil, err
			}
		}
		return b, nil
	case hlObject:
		b = hlMsgpackLen(b, len(v), 0x80, 0xde, 0xdf)
		for _, m := range v {
			var err error
			if b, err = hlMsgpack(b, m.key); err != nil {
				return nil, err
			}
			if b, err = hlMsgpack(b, m.val); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("cannot msgpack a %T", v)
}

func hlMsgpackLen(b []byte, n int, fix, m16, m32 byte) []byte {
	switch {
	case n < 16:
		return append(b, fix|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, m16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, m32), uint32(n))
}

func hlMsgpackNumber(b []byte, s string) ([]byte, error) {
	if strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("number %s is not a float64", clip(s))
		}
		return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(f)), nil
	}
	if s[0] == '-' {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("integer %s does not fit 64 bits", clip(s))
		}
		switch {
		case n >= -32:
			return append(b, byte(int8(n))), nil
		case n >= math.MinInt8:
			return append(b, 0xd0, byte(int8(n))), nil
		case n >= math.MinInt16:
			return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(int16(n))), nil
		case n >= math.MinInt32:
			return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(int32(n))), nil
		}
		return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n)), nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("integer %s does not fit 64 bits", clip(s))
	}
	switch {
	case n < 128:
		return append(b, byte(n)), nil
	case n < 1<<8:
		return append(b, 0xcc, byte(n)), nil
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(n)), nil
	case n < 1<<32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n)), nil
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), n), nil
}
