//! The UI's clock: wall time for rates, ETAs and in-flight estimates.
//!
//! Injectable so snapshot tests are deterministic: `Clock::system()` in the product,
//! `Clock::manual(t)` in tests (advance it by hand). No sleeping, no timers here.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<Mutex<SystemTime>>),
}

impl Clock {
    pub fn system() -> Self {
        Clock::System
    }

    /// A clock that stays at `at` until `advance` or `set` moves it.
    pub fn manual(at: SystemTime) -> Self {
        Clock::Manual(Arc::new(Mutex::new(at)))
    }

    pub fn now(&self) -> SystemTime {
        match self {
            Clock::System => SystemTime::now(),
            Clock::Manual(t) => *t.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Moves a manual clock forward; no effect on the system clock.
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            let mut g = t.lock().unwrap_or_else(|p| p.into_inner());
            *g += by;
        }
    }

    pub fn set(&self, at: SystemTime) {
        if let Clock::Manual(t) = self {
            *t.lock().unwrap_or_else(|p| p.into_inner()) = at;
        }
    }
}
