package sip

// Rebuild returns u detached from the text it was parsed from, so that
// String and AppendTo write its fields, as changed by the caller (a proxy
// adding or removing a URI parameter).
func (u URI) Rebuild() URI {
	u.raw = ""
	return u
}
