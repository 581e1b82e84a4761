package dialog

import "hash/maphash"

// index finds dialogs by ID through a 64-bit hash of the ID: a map slot
// is then 16 bytes, not the 56 of an ID and a pointer, which counts with
// two dialogs for each of 100 000 held calls. Every lookup compares the
// whole ID; a second ID with a hash already taken (which a random seed
// makes all but impossible, even for IDs an attacker picks) goes in
// clash, keyed by the whole ID. Its owner locks it.
type index struct {
	hash   func(ID) uint64
	byHash map[uint64]*Dialog
	clash  map[ID]*Dialog // nil while empty
}

func newIndex() index {
	seed := maphash.MakeSeed()
	return index{byHash: make(map[uint64]*Dialog), hash: func(id ID) uint64 {
		var h maphash.Hash
		h.SetSeed(seed)
		h.WriteString(id.CallID)
		h.WriteByte(0) // no SIP token holds a NUL: "ab"+"c" and "a"+"bc" differ
		h.WriteString(id.LocalTag)
		h.WriteByte(0)
		h.WriteString(id.RemoteTag)
		return h.Sum64()
	}}
}

func (x *index) len() int { return len(x.byHash) + len(x.clash) }

// get returns the dialog with id, or nil.
func (x *index) get(id ID) *Dialog {
	if d := x.byHash[x.hash(id)]; d != nil && d.id == id {
		return d
	}
	return x.clash[id]
}

// put adds d, whose ID get does not find.
func (x *index) put(d *Dialog) {
	h := x.hash(d.id)
	if x.byHash[h] == nil {
		x.byHash[h] = d
		return
	}
	if x.clash == nil {
		x.clash = make(map[ID]*Dialog)
	}
	x.clash[d.id] = d
}

// remove drops d if it is the dialog held for its ID; a clash with its
// hash takes its place.
func (x *index) remove(d *Dialog) {
	h := x.hash(d.id)
	if x.byHash[h] != d {
		if x.clash[d.id] == d {
			delete(x.clash, d.id)
		}
		return
	}
	delete(x.byHash, h)
	for id, c := range x.clash {
		if x.hash(id) == h {
			delete(x.clash, id)
			x.byHash[h] = c
			break
		}
	}
	if len(x.clash) == 0 {
		x.clash = nil
	}
}
