package scheme

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// hlMsgpack appends the MessagePack encoding of a parsed JSON value to b,
// byte for byte as the two reference signers encode the same action:
// Python's msgpack.packb (hyperliquid-python-sdk) of json.loads' result,
// and ccxt's packb of JSON.parse's result. Both use
//
//   - the narrowest integer form: positive fixint, uint8/16/32/64 for
//     non-negative integers, negative fixint, int8/16/32/64 for negative ones;
//   - float64 (0xcb) for every other number;
//   - fixstr/str8/str16/str32 for strings (UTF-8), fixmap/map16/map32 with
//     the keys in the order the JSON has them, fixarray/array16/array32;
//   - nil, false, true.
//
// Where the two would disagree, the value is refused rather than guessed:
//
//   - a number written with a fraction or exponent but integral in value
//     (1.0, 1e3, -0.0): Python keeps a float, JavaScript makes it an integer;
//   - an integer outside int64..uint64 (Python raises; JavaScript rounds);
//   - an object key that is an array index ("0", "17"): JavaScript's
//     JSON.parse moves such keys to the front of the object.
//
// Integers beyond 2^53 are encoded exactly, as Python (and the venue) read
// them; ccxt's JSON.parse would round them first.
func hlMsgpack(b []byte, v *hlValue, path string) ([]byte, error) {
	switch v.kind {
	case hlNull:
		return append(b, 0xc0), nil
	case hlBool:
		if v.boolean {
			return append(b, 0xc3), nil
		}
		return append(b, 0xc2), nil
	case hlString:
		return hlMsgpackStr(b, v.str), nil
	case hlNumber:
		return hlMsgpackNumber(b, v.num, path)
	case hlArray:
		b = hlMsgpackHeader(b, len(v.vals), 0x90, 15, 0xdc, 0xdd)
		var err error
		for i, e := range v.vals {
			if b, err = hlMsgpack(b, e, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return nil, err
			}
		}
		return b, nil
	case hlObject:
		b = hlMsgpackHeader(b, len(v.keys), 0x80, 15, 0xde, 0xdf)
		var err error
		for i, k := range v.keys {
			if hlArrayIndex(k) {
				return nil, badRequest(fmt.Sprintf("hyperliquid: %s has the key %q, a number: JavaScript clients move such keys to the front of the object, so the action's hash is ambiguous; use a non-numeric key", path, truncate(k, 24)))
			}
			b = hlMsgpackStr(b, k)
			if b, err = hlMsgpack(b, v.vals[i], path+"."+truncate(k, 40)); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("hyperliquid: msgpack: unknown JSON kind %d", v.kind)
}

// hlMsgpackHeader appends a length header: the fix form when n <= fixMax,
// else the 16- or 32-bit form.
func hlMsgpackHeader(b []byte, n int, fix byte, fixMax int, t16, t32 byte) []byte {
	switch {
	case n <= fixMax:
		return append(b, fix|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, t16), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, t32), uint32(n))
	}
}

func hlMsgpackStr(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n <= 31:
		b = append(b, 0xa0|byte(n))
	case n <= 0xff:
		b = append(b, 0xd9, byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func hlMsgpackNumber(b []byte, num, path string) ([]byte, error) {
	if !hlIsInteger(num) {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, badRequest(fmt.Sprintf("hyperliquid: %s is %s, out of a float64's range", path, truncate(num, 32)))
		}
		if f == math.Trunc(f) {
			return nil, badRequest(fmt.Sprintf("hyperliquid: %s is %s, a whole number written with a fraction or exponent: Python signs it as a float and JavaScript as an integer; write it as an integer (or as a string if the venue wants one)", path, truncate(num, 32)))
		}
		return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(f)), nil
	}
	if num[0] == '-' {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return nil, badRequest(fmt.Sprintf("hyperliquid: %s is %s, below the least 64-bit integer", path, truncate(num, 32)))
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
		default:
			return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n)), nil
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return nil, badRequest(fmt.Sprintf("hyperliquid: %s is %s, above the greatest 64-bit integer", path, truncate(num, 32)))
	}
	switch {
	case n <= 0x7f:
		return append(b, byte(n)), nil
	case n <= math.MaxUint8:
		return append(b, 0xcc, byte(n)), nil
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(n)), nil
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n)), nil
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), n), nil
	}
}

// hlArrayIndex reports whether k is a key JavaScript treats as an array
// index (a canonical decimal below 2^32-1) and so orders first.
func hlArrayIndex(k string) bool {
	if k == "" || len(k) > 10 || (len(k) > 1 && k[0] == '0') {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < '0' || k[i] > '9' {
			return false
		}
	}
	n, err := strconv.ParseUint(k, 10, 64)
	return err == nil && n < math.MaxUint32
}
