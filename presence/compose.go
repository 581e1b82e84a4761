package presence

import (
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/parley-sip/parley/presence/pidf"
)

// Presentity is everything the server knows of one user at one moment,
// as plain values: the compositor reads no store and no dialog table.
type Presentity struct {
	// Entity is the presentity's URI, "sip:alice@example.com".
	Entity string
	// Published are the documents the user's devices published that have
	// not expired, oldest modification first: where two disagree (a
	// person's note), the newest wins.
	Published []*pidf.Document
	// Contacts are the Contact URIs of the user's current registrations.
	// None means offline: every tuple is closed, whatever was published.
	Contacts []string
	// InCall says the user has a confirmed dialog: the person is
	// on-the-phone.
	InCall bool
}

// Tuple and person ids Parley makes up where the published ones cannot
// serve: the offline tuple and the person standing for the user.
const (
	offlineTupleID = "offline"
	personID       = "person"
)

// Compose builds the presentity's one document (RFC 3903 §4's
// composition, with the registrar and the dialogs as sources):
//
//   - every published tuple, closed when the user has no registration,
//     but for a tuple a newer publication repeats (the same id and
//     contact: one device publishing again without SIP-If-Match, as
//     baresip does), which only the newer one gives;
//   - while no tuple is published, a tuple for each registered contact,
//     open;
//   - one tuple, closed, when there is nothing else to say;
//   - one person with the activities of all published persons (of the
//     newest publication only, for persons several give one id), plus
//     on-the-phone while in a call, and the newest note;
//   - the notes of every published document, each once.
//
// Ids are unique in the document and stable from one NOTIFY to the next
// while the inputs do not change, as RFC 3863 asks for tuple ids.
func Compose(p Presentity) *pidf.Document {
	c := composer{doc: &pidf.Document{Entity: p.Entity}, ids: map[string]bool{}}
	online := len(p.Contacts) > 0
	for i, pub := range latest(p.Published) {
		c.addPublished(i, pub, online)
	}
	published := len(c.doc.Tuples) > 0
	for _, contact := range p.Contacts {
		// A published tuple says what its user wants shown: a
		// registration makes a tuple of its own only while none is
		// published, or baresip's /presence_offline (a closed tuple
		// naming the AOR, not the registered contact) would leave the
		// user open.
		if published {
			break
		}
		if !c.contacts[contact] && pidf.ValidURI(contact) {
			c.addTuple(pidf.Tuple{ID: "reg-" + hashID(contact), Basic: pidf.Open, Contact: contact})
		}
	}
	if len(c.doc.Tuples) == 0 {
		c.addTuple(pidf.Tuple{ID: offlineTupleID, Basic: pidf.Closed})
	}
	if p.InCall && online {
		c.addActivity(pidf.OnThePhone)
	}
	c.finishPerson()
	return c.doc
}

// composer accumulates the document Compose builds.
type composer struct {
	doc      *pidf.Document
	ids      map[string]bool // ids used, across tuples and the person
	contacts map[string]bool // contacts some tuple already names
	person   pidf.Person
	hasPers  bool
}

func (c *composer) addPublished(i int, pub *pidf.Document, online bool) {
	for j, t := range pub.Tuples {
		if !online {
			t.Basic = pidf.Closed
		} else if t.Basic == "" {
			// A tuple without a basic status says nothing of
			// availability; an online user's is open.
			t.Basic = pidf.Open
		}
		if !pidf.ValidID(t.ID) {
			t.ID = fmt.Sprintf("pub%d-%d", i, j)
		}
		if !pidf.ValidURI(t.Contact) {
			t.Contact = "" // the schema wants a URI; the tuple stands without one
		}
		c.addTuple(t)
	}
	for _, n := range pub.Notes {
		if !slices.Contains(c.doc.Notes, n) {
			c.doc.Notes = append(c.doc.Notes, n)
		}
	}
	for _, pers := range pub.Persons {
		c.addPerson(pers)
	}
}

// addTuple adds t, renaming it when its id is taken: devices of one brand
// publish the same fixed id (baresip's is always "t4109").
func (c *composer) addTuple(t pidf.Tuple) {
	t.ID = c.unique(t.ID)
	c.ids[t.ID] = true
	if t.Contact != "" {
		if c.contacts == nil {
			c.contacts = map[string]bool{}
		}
		c.contacts[t.Contact] = true
	}
	c.doc.Tuples = append(c.doc.Tuples, t)
}

func (c *composer) addPerson(p pidf.Person) {
	if !c.hasPers && pidf.ValidID(p.ID) {
		c.person.ID = p.ID
	}
	c.hasPers = true
	for _, a := range p.Activities {
		c.addActivity(a)
	}
	if p.Note != "" {
		c.person.Note = p.Note
	}
}

func (c *composer) addActivity(a pidf.Activity) {
	c.hasPers = true
	// Only RFC 4480's activities can be notified, and "unknown" says
	// nothing next to a known one (the schema allows it only alone).
	if a.Known() && !slices.Contains(c.person.Activities, a) {
		c.person.Activities = append(c.person.Activities, a)
	}
}

func (c *composer) finishPerson() {
	if !c.hasPers {
		return
	}
	if len(c.person.Activities) > 1 {
		c.person.Activities = slices.DeleteFunc(c.person.Activities, func(a pidf.Activity) bool { return a == pidf.Unknown })
	}
	if c.person.ID == "" {
		c.person.ID = personID
	}
	c.person.ID = c.unique(c.person.ID)
	c.doc.Persons = []pidf.Person{c.person}
}

// latest returns the publications without the tuples and persons a newer
// one repeats: a device that publishes again without SIP-If-Match leaves
// its older publication in force until it expires, and that one must not
// keep saying open after the device said closed.
func latest(pubs []*pidf.Document) []*pidf.Document {
	type tupleKey struct{ id, contact string }
	tuples, persons := map[tupleKey]bool{}, map[string]bool{}
	out := make([]*pidf.Document, len(pubs))
	for i := len(pubs) - 1; i >= 0; i-- {
		d := *pubs[i]
		d.Tuples = slices.DeleteFunc(slices.Clone(d.Tuples), func(t pidf.Tuple) bool {
			k := tupleKey{t.ID, t.Contact}
			seen := tuples[k]
			tuples[k] = true
			return seen
		})
		d.Persons = slices.DeleteFunc(slices.Clone(d.Persons), func(p pidf.Person) bool {
			seen := persons[p.ID]
			persons[p.ID] = true
			return seen
		})
		out[i] = &d
	}
	return out
}

// unique returns id, or id with the first free "-n" suffix when a tuple
// already has it.
func (c *composer) unique(id string) string {
	u := id
	for n := 2; c.ids[u]; n++ {
		u = fmt.Sprintf("%s-%d", id, n)
	}
	return u
}

// hashID turns a contact URI into an id that is an XML ID and the same
// for the same contact, so a registration's tuple keeps its id.
func hashID(s string) string {
	h := fnv.New64a()
	h.Write([]byte(s))
	return fmt.Sprintf("%016x", h.Sum64())
}
