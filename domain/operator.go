package domain

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// Operators (seed 004): the people who take sessions. An instance's operators
// live in one roster stream, so that allocating integer ids, de-duplicating
// names and counting each operator's open sessions against its capacity are
// decided on one aggregate appended with an expected revision: two writers
// never allocate one id twice nor put an operator above capacity.

// Operator statuses (seed 004) and presences.
const (
	OperatorActive   = 0
	OperatorInactive = 1
	OperatorDeleted  = 2

	PresenceOnline  = "online"
	PresenceAway    = "away"
	PresenceOffline = "offline"

	DefaultOperatorCapacity = 5
	MaxOperatorCapacity     = 10_000
	MaxOperatorNameRunes    = 100
	MaxSynchronizeItems     = 500

	// Instance routing settings: auto assigns pending sessions, manual leaves
	// them queued for operators to accept.
	RoutingAuto   = "auto"
	RoutingManual = "manual"
)

// Presences lists the valid presences.
var Presences = []string{PresenceOnline, PresenceAway, PresenceOffline}

// Operator errors.
var (
	ErrOperatorNotFound      = &Error{Code: "operator_not_found", Message: "no such operator"}
	ErrOperatorDeleted       = &Error{Code: "operator_deleted", Message: "the operator is deleted and cannot change any more"}
	ErrOperatorNameTaken     = &Error{Code: "operator_name_taken", Message: "an operator with this name exists"}
	ErrOperatorNotAssignable = &Error{Code: "operator_not_assignable", Message: "the assignee must be an active operator of the instance"}
	ErrOperatorAtCapacity    = &Error{Code: "operator_at_capacity", Message: "the operator holds as many sessions as their capacity allows"}
)

// Reasons a reservation is released.
const SessionReasonAcceptFailed = "accept_failed"

// RosterStream names the stream of an instance's operators.
func RosterStream(instanceID string) string { return "operators-" + instanceID }

// OperatorCreated adds an operator with the next integer id of its instance.
type OperatorCreated struct {
	InstanceID string `json:"instance_id"`
	OperatorID int64  `json:"operator_id"`
	Name       string `json:"name"`
	Status     int    `json:"status"`
	Capacity   int    `json:"capacity"`
	Presence   string `json:"presence"`
}

func (OperatorCreated) EventType() string { return "OperatorCreated" }

// OperatorRenamed changes an operator's display name.
type OperatorRenamed struct {
	InstanceID string `json:"instance_id"`
	OperatorID int64  `json:"operator_id"`
	From       string `json:"from"`
	To         string `json:"to"`
}

func (OperatorRenamed) EventType() string { return "OperatorRenamed" }

// OperatorStatusChanged moves an operator between active, inactive and deleted.
type OperatorStatusChanged struct {
	InstanceID string `json:"instance_id"`
	OperatorID int64  `json:"operator_id"`
	From       int    `json:"from"`
	To         int    `json:"to"`
}

func (OperatorStatusChanged) EventType() string { return "OperatorStatusChanged" }

// OperatorCapacityChanged sets how many sessions an operator holds at once (0: no limit).
type OperatorCapacityChanged struct {
	InstanceID string `json:"instance_id"`
	OperatorID int64  `json:"operator_id"`
	From       int    `json:"from"`
	To         int    `json:"to"`
}

func (OperatorCapacityChanged) EventType() string { return "OperatorCapacityChanged" }

// OperatorPresenceChanged sets an operator's presence.
type OperatorPresenceChanged struct {
	InstanceID string `json:"instance_id"`
	OperatorID int64  `json:"operator_id"`
	From       string `json:"from"`
	To         string `json:"to"`
}

func (OperatorPresenceChanged) EventType() string { return "OperatorPresenceChanged" }

// OperatorSessionCounted counts a session against an operator's capacity (and
// off its previous holder's, if any). Routed marks the routing manager's own
// assignments, which move the round-robin cursor.
type OperatorSessionCounted struct {
	InstanceID string `json:"instance_id"`
	OperatorID int64  `json:"operator_id"`
	ThreadID   string `json:"thread_id"`
	// FromOperator is the session's previous holder, when it had one.
	FromOperator int64 `json:"from_operator,omitempty"`
	Routed       bool  `json:"routed,omitempty"`
}

func (OperatorSessionCounted) EventType() string { return "OperatorSessionCounted" }

// OperatorSessionReleased frees the capacity a session took.
type OperatorSessionReleased struct {
	InstanceID string `json:"instance_id"`
	OperatorID int64  `json:"operator_id"`
	ThreadID   string `json:"thread_id"`
	Reason     string `json:"reason"`
}

func (OperatorSessionReleased) EventType() string { return "OperatorSessionReleased" }

// Operator is one operator as the roster knows it.
type Operator struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Status   int    `json:"status"`
	Capacity int    `json:"capacity"`
	Presence string `json:"presence"`
	Load     int    `json:"load"`
}

// Available tells whether routing may give the operator one more session.
func (o Operator) Available() bool {
	return o.Status == OperatorActive && o.Presence == PresenceOnline && (o.Capacity == 0 || o.Load < o.Capacity)
}

// Roster is the state of an instance's operators, folded from its stream.
type Roster struct {
	InstanceID string              `json:"instance_id"`
	Version    int64               `json:"version"`
	Operators  map[int64]*Operator `json:"operators"`
	Order      []int64             `json:"order"` // ids in creation order: the round-robin order
	// Holders maps each counted session (thread id) to its operator.
	Holders map[string]int64 `json:"holders"`
	// LastRouted is the operator the routing manager last gave a session.
	LastRouted int64 `json:"last_routed"`
}

// RosterSnapshotVersion names the shape of Roster in stored snapshots.
const RosterSnapshotVersion = 1

// NewRoster is the state before the first event.
func NewRoster(instanceID string) Roster {
	return Roster{InstanceID: instanceID, Version: -1, Operators: map[int64]*Operator{}, Holders: map[string]int64{}}
}

// WithMaps returns the state with its maps allocated (a decoded snapshot may lack them).
func (r Roster) WithMaps() Roster {
	if r.Operators == nil {
		r.Operators = map[int64]*Operator{}
	}
	if r.Holders == nil {
		r.Holders = map[string]int64{}
	}
	return r
}

// Clone copies the state, so a decision on the copy leaves the original as it was.
func (r Roster) Clone() Roster {
	c := r
	c.Operators = make(map[int64]*Operator, len(r.Operators))
	for id, o := range r.Operators {
		cp := *o
		c.Operators[id] = &cp
	}
	c.Order = append([]int64(nil), r.Order...)
	c.Holders = make(map[string]int64, len(r.Holders))
	for k, v := range r.Holders {
		c.Holders[k] = v
	}
	return c
}

// EvolveRoster applies one event to the state. It changes the state's maps in place.
func EvolveRoster(r Roster, env Envelope) Roster {
	switch e := env.Payload.(type) {
	case OperatorCreated:
		r.Operators[e.OperatorID] = &Operator{ID: e.OperatorID, Name: e.Name, Status: e.Status, Capacity: e.Capacity, Presence: e.Presence}
		r.Order = append(r.Order, e.OperatorID)
	case OperatorRenamed:
		if o := r.Operators[e.OperatorID]; o != nil {
			o.Name = e.To
		}
	case OperatorStatusChanged:
		if o := r.Operators[e.OperatorID]; o != nil {
			o.Status = e.To
		}
	case OperatorCapacityChanged:
		if o := r.Operators[e.OperatorID]; o != nil {
			o.Capacity = e.To
		}
	case OperatorPresenceChanged:
		if o := r.Operators[e.OperatorID]; o != nil {
			o.Presence = e.To
		}
	case OperatorSessionCounted:
		if prev, held := r.Holders[e.ThreadID]; held {
			if o := r.Operators[prev]; o != nil && o.Load > 0 {
				o.Load--
			}
		}
		r.Holders[e.ThreadID] = e.OperatorID
		if o := r.Operators[e.OperatorID]; o != nil {
			o.Load++
		}
		if e.Routed {
			r.LastRouted = e.OperatorID
		}
	case OperatorSessionReleased:
		if prev, held := r.Holders[e.ThreadID]; held && prev == e.OperatorID {
			delete(r.Holders, e.ThreadID)
			if o := r.Operators[prev]; o != nil && o.Load > 0 {
				o.Load--
			}
		}
	}
	r.Version = int64(env.Raw.Revision)
	return r
}

// nameKey is the de-duplication key of an operator name: trimmed, case-folded.
func nameKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// ByName finds a live (not deleted) operator by name, case-insensitively.
func (r Roster) ByName(name string) (Operator, bool) {
	k := nameKey(name)
	for _, id := range r.Order {
		if o := r.Operators[id]; o.Status != OperatorDeleted && nameKey(o.Name) == k {
			return *o, true
		}
	}
	return Operator{}, false
}

// Operator finds an operator by id.
func (r Roster) Operator(id int64) (Operator, bool) {
	o, ok := r.Operators[id]
	if !ok {
		return Operator{}, false
	}
	return *o, true
}

// nextID is the next operator id: ids are never reused, deleted ones included.
func (r Roster) nextID() int64 {
	var max int64
	for _, id := range r.Order {
		if id > max {
			max = id
		}
	}
	return max + 1
}

// HeldBy lists the sessions counted on an operator, sorted.
func (r Roster) HeldBy(operatorID int64) []string {
	var out []string
	for t, id := range r.Holders {
		if id == operatorID {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// CleanOperatorName checks a name: 1 to 100 characters after trimming, one line.
func CleanOperatorName(field, name string) (string, error) {
	n, err := CleanLine(field, name, MaxOperatorNameRunes)
	if err != nil {
		return "", err
	}
	if n == "" || utf8.RuneCountInString(n) > MaxOperatorNameRunes {
		return "", Errorf(ErrInvalidField, "%s must be 1 to %d characters after trimming", field, MaxOperatorNameRunes)
	}
	return n, nil
}

// NewOperator is one operator to create.
type NewOperator struct {
	Name     string
	Capacity *int // nil: DefaultOperatorCapacity
}

// DecideCreateOperators creates operators. With dedupe (seed 004's
// synchronize) a name the roster holds already (or an earlier item holds)
// answers that operator instead of a second one; without it such a name is
// refused. One invalid item refuses them all, naming its index. It returns
// the events and, per item, the operator it stands for.
func DecideCreateOperators(r Roster, items []NewOperator, dedupe bool) ([]Event, []Operator, error) {
	if len(items) > MaxSynchronizeItems {
		return nil, nil, Errorf(ErrInvalidField, "at most %d operators per call; got %d", MaxSynchronizeItems, len(items))
	}
	clean := make([]string, len(items))
	for i, it := range items {
		field := "name"
		if len(items) > 1 || dedupe {
			field = "item " + itoa(int64(i)) + ": name"
		}
		n, err := CleanOperatorName(field, it.Name)
		if err != nil {
			return nil, nil, err
		}
		clean[i] = n
		if it.Capacity != nil && (*it.Capacity < 0 || *it.Capacity > MaxOperatorCapacity) {
			return nil, nil, Errorf(ErrInvalidField, "capacity must be 0 (no limit) to %d", MaxOperatorCapacity)
		}
	}
	var events []Event
	out := make([]Operator, len(items))
	seen := map[string]Operator{}
	next := r.nextID()
	for i, n := range clean {
		k := nameKey(n)
		if o, ok := seen[k]; ok {
			out[i] = o
			continue
		}
		if o, ok := r.ByName(n); ok {
			if !dedupe {
				return nil, nil, Errorf(ErrOperatorNameTaken, "operator %d is named %q already", o.ID, o.Name)
			}
			out[i], seen[k] = o, o
			continue
		}
		capacity := DefaultOperatorCapacity
		if items[i].Capacity != nil {
			capacity = *items[i].Capacity
		}
		o := Operator{ID: next, Name: n, Status: OperatorActive, Capacity: capacity, Presence: PresenceOffline}
		next++
		events = append(events, OperatorCreated{InstanceID: r.InstanceID, OperatorID: o.ID, Name: o.Name,
			Status: o.Status, Capacity: o.Capacity, Presence: o.Presence})
		out[i], seen[k] = o, o
	}
	return events, out, nil
}

// OperatorChanges is a PATCH of an operator: nil fields stay as they are.
type OperatorChanges struct {
	Name     *string
	Status   *int
	Capacity *int
	Presence *string
}

// DecideOperatorChanges returns one event per field that really changes. A
// deleted operator changes no more.
func DecideOperatorChanges(r Roster, id int64, ch OperatorChanges) ([]Event, Operator, error) {
	o, ok := r.Operator(id)
	if !ok {
		return nil, Operator{}, Errorf(ErrOperatorNotFound, "no operator %d", id)
	}
	if ch.Name == nil && ch.Status == nil && ch.Capacity == nil && ch.Presence == nil {
		return nil, o, Errorf(ErrMissingField, "give at least one of name, status, capacity, presence")
	}
	if ch.Status != nil && (*ch.Status < OperatorActive || *ch.Status > OperatorDeleted) {
		return nil, o, Errorf(ErrInvalidField, "status must be 0 (active), 1 (inactive) or 2 (deleted)")
	}
	if ch.Capacity != nil && (*ch.Capacity < 0 || *ch.Capacity > MaxOperatorCapacity) {
		return nil, o, Errorf(ErrInvalidField, "capacity must be 0 (no limit) to %d", MaxOperatorCapacity)
	}
	if ch.Presence != nil && !contains(Presences, *ch.Presence) {
		return nil, o, Errorf(ErrInvalidField, "presence must be one of %s", strings.Join(Presences, ", "))
	}
	var name string
	if ch.Name != nil {
		n, err := CleanOperatorName("name", *ch.Name)
		if err != nil {
			return nil, o, err
		}
		name = n
	}
	if o.Status == OperatorDeleted {
		return nil, o, Errorf(ErrOperatorDeleted, "operator %d is deleted", id)
	}
	var evs []Event
	if ch.Name != nil && name != o.Name {
		if other, taken := r.ByName(name); taken && other.ID != id {
			return nil, o, Errorf(ErrOperatorNameTaken, "operator %d is named %q already", other.ID, other.Name)
		}
		evs = append(evs, OperatorRenamed{InstanceID: r.InstanceID, OperatorID: id, From: o.Name, To: name})
		o.Name = name
	}
	if ch.Capacity != nil && *ch.Capacity != o.Capacity {
		evs = append(evs, OperatorCapacityChanged{InstanceID: r.InstanceID, OperatorID: id, From: o.Capacity, To: *ch.Capacity})
		o.Capacity = *ch.Capacity
	}
	if ch.Presence != nil && *ch.Presence != o.Presence {
		evs = append(evs, OperatorPresenceChanged{InstanceID: r.InstanceID, OperatorID: id, From: o.Presence, To: *ch.Presence})
		o.Presence = *ch.Presence
	}
	if ch.Status != nil && *ch.Status != o.Status {
		evs = append(evs, OperatorStatusChanged{InstanceID: r.InstanceID, OperatorID: id, From: o.Status, To: *ch.Status})
		o.Status = *ch.Status
	}
	return evs, o, nil
}

// NextAvailable is the operator routing gives the next session: the first
// available operator after the last one routed to, in creation order,
// wrapping around (round-robin).
func (r Roster) NextAvailable() (Operator, bool) {
	n := len(r.Order)
	if n == 0 {
		return Operator{}, false
	}
	start := 0
	for i, id := range r.Order {
		if id == r.LastRouted {
			start = i + 1
			break
		}
	}
	for k := 0; k < n; k++ {
		o := r.Operators[r.Order[(start+k)%n]]
		if o.Available() {
			return *o, true
		}
	}
	return Operator{}, false
}

// DecideRoutes counts sessions on available operators in round-robin order,
// as many of threadIDs as capacity allows (in their order: oldest first). A
// session counted already keeps its operator and appends nothing. It returns
// the events and the operator of each routed session.
func DecideRoutes(r Roster, threadIDs []string) ([]Event, map[string]int64) {
	// The simulation copies the operators only: the holders (one per open
	// session, 100,000 in a busy instance) are read from r, overlaid with
	// the sessions routed here, instead of being cloned for every batch.
	sim := r
	sim.Operators = make(map[int64]*Operator, len(r.Operators))
	for id, o := range r.Operators {
		cp := *o
		sim.Operators[id] = &cp
	}
	sim.Holders = nil
	routed := map[string]int64{}
	holder := func(t string) (int64, bool) {
		if id, ok := routed[t]; ok {
			return id, true
		}
		id, ok := r.Holders[t]
		return id, ok
	}
	var evs []Event
	for _, t := range threadIDs {
		// A session counted already (a route whose thread append was cut
		// short) keeps its operator while that one is still active.
		if id, held := holder(t); held && sim.Operators[id] != nil && sim.Operators[id].Status == OperatorActive {
			routed[t] = id
			continue
		}
		o, ok := sim.NextAvailable()
		if !ok {
			break
		}
		prev, held := holder(t)
		ev := OperatorSessionCounted{InstanceID: r.InstanceID, OperatorID: o.ID, ThreadID: t, FromOperator: prev, Routed: true}
		// As EvolveRoster applies it.
		if p := sim.Operators[prev]; held && p != nil && p.Load > 0 {
			p.Load--
		}
		sim.Operators[o.ID].Load++
		sim.LastRouted = o.ID
		sim.Version++
		evs = append(evs, ev)
		routed[t] = o.ID
	}
	return evs, routed
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// DecideAcceptReservation counts a session on the operator about to accept
// it, before the accept is appended to the thread: appended with the roster's
// revision, it never puts the operator above capacity, whatever routing does
// at the same time. A session counted on the operator already appends
// nothing; one counted on another operator (routing is giving it to them)
// is not pending any more for an accept.
func DecideAcceptReservation(r Roster, threadID string, operatorID int64) ([]Event, error) {
	o, ok := r.Operators[operatorID]
	if !ok {
		return nil, Errorf(ErrOperatorNotFound, "no operator %d", operatorID)
	}
	if o.Status != OperatorActive {
		return nil, Errorf(ErrOperatorNotAssignable, "operator %d is not active", operatorID)
	}
	if held, ok := r.Holders[threadID]; ok {
		if held == operatorID {
			return nil, nil
		}
		return nil, Errorf(ErrSessionWrongStatus, "the session is being assigned to operator %d", held)
	}
	if o.Capacity > 0 && o.Load >= o.Capacity {
		return nil, Errorf(ErrOperatorAtCapacity, "operator %d holds %d sessions, their capacity", operatorID, o.Load)
	}
	return []Event{OperatorSessionCounted{InstanceID: r.InstanceID, OperatorID: operatorID, ThreadID: threadID}}, nil
}
