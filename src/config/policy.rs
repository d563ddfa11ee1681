//! `[policy]`: the contact policy's limits (applied in `recommend::policy`).

/// `[policy]` of crm-mart.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A complaint at most this many days old whose outcome is `unresolved` → service recovery.
    pub service_recovery_days: u32,
    /// More outbound contacts than this in `contact_window_days` → rest.
    pub max_outbound_contacts: u32,
    /// The window of the fatigue cap, in days.
    pub contact_window_days: u32,
    /// Market only with an explicit opt-in.
    pub require_opt_in: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            service_recovery_days: 30,
            max_outbound_contacts: 3,
            contact_window_days: 30,
            require_opt_in: false,
        }
    }
}
