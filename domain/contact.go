package domain

// Contacts: the person on the other side of a thread (seed 003's customerId).
// A contact is one per (instance, provider, external user id); its id is
// derived from that key, so every message of one person names the same
// contact without a lookup. Messages carry it; the contacts read model keeps
// the display name the provider gave last. Profile fields (CRM sync) will be
// events of a contact-<id> stream.

// PrefixContact starts contact ids.
const PrefixContact = "socus_"

// ContactStream names a contact's stream (for profile events to come).
func ContactStream(contactID string) string { return "contact-" + contactID }

// ContactID is the contact of a provider user in an instance. A sender the
// provider does not identify is the contact of its thread.
func ContactID(instanceID, provider string, sender Sender, externalThreadID string) string {
	if sender.ExternalID != "" {
		return DerivedID(PrefixContact, instanceID, provider, sender.ExternalID)
	}
	return DerivedID(PrefixContact, instanceID, provider, "thread", externalThreadID)
}
