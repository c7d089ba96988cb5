package httpapi

// RoleHolder tells which follower roles (projectors, process managers) this
// process holds now (adapters/election.Elector).
type RoleHolder interface {
	Held() []string
}

// heldRoles is what /readyz shows under "roles": never null.
func (h *handlers) heldRoles() []string {
	if h.Roles == nil {
		return []string{}
	}
	if held := h.Roles.Held(); held != nil {
		return held
	}
	return []string{}
}
