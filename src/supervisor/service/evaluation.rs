//! What the boot's evaluation hands each service: its variables and, for a start that needs
//! no script run, the daemon's shape; set once, awaited by the start that needs it.

use super::*;

/// What the run-time pass said of a service: the fast path when it applies, and what its start
/// limit is (conf.d may set `rcinit_start_timeout`).
#[derive(Debug, Clone, Default)]
pub struct Evaluated {
    pub fast: Option<ScriptlessStart>,
    pub start_timeout: Option<String>,
}

impl Evaluated {
    pub fn of(spec: &crate::script::spec::Spec) -> Evaluated {
        Evaluated {
            fast: ScriptlessStart::of(spec),
            start_timeout: spec.vars.get("rcinit_start_timeout").cloned(),
        }
    }

    /// [`Evaluated::of`], taking what the fast path keeps out of the spec (see [`ScriptlessStart::take`]).
    pub fn take(spec: &mut crate::script::spec::Spec) -> Evaluated {
        let start_timeout = spec.vars.get("rcinit_start_timeout").cloned();
        Evaluated {
            fast: ScriptlessStart::take(spec),
            start_timeout,
        }
    }
}

/// What a script without start_pre, start or start_post reported at evaluation: the same
/// sourcing order and RC_CMD as openrc-run's start, so the same values (V-02).
#[derive(Debug, Clone)]
pub struct ScriptlessStart {
    pub vars: Rc<BTreeMap<String, String>>,
    pub argv: Vec<String>,
    pub exported: crate::script::spec::Exported,
    /// It defines stop, stop_pre or stop_post: stopping runs the script.
    pub script_stop: bool,
}

impl ScriptlessStart {
    /// The fast path for a spec, when its script leaves the start entirely to the default.
    pub fn of(spec: &crate::script::spec::Spec) -> Option<ScriptlessStart> {
        let mut f = Self::shape(spec)?;
        f.vars = Rc::new(spec.vars.clone());
        f.argv = spec.argv.clone();
        Some(f)
    }

    /// [`ScriptlessStart::of`], taking what it keeps out of the spec instead of copying it (the boot's
    /// specs are dropped right after: one copy per service, not two, at the peak).
    pub fn take(spec: &mut crate::script::spec::Spec) -> Option<ScriptlessStart> {
        let mut f = Self::shape(spec)?;
        f.vars = Rc::new(std::mem::take(&mut spec.vars));
        f.argv = std::mem::take(&mut spec.argv);
        Some(f)
    }

    /// Whether the fast path applies, and what it keeps besides the variables and argv.
    pub(super) fn shape(spec: &crate::script::spec::Spec) -> Option<ScriptlessStart> {
        let f = |n: &str| spec.functions.iter().any(|x| x == n);
        let needs_shell = ["start", "start_pre", "start_post"].iter().any(|n| f(n))
            || spec.vars.contains_key("required_dirs")
            || spec.vars.contains_key("required_files");
        (!needs_shell && spec.error.is_none()).then(|| ScriptlessStart {
            vars: Rc::default(),
            argv: Vec::new(),
            exported: spec.exported.clone(),
            script_stop: ["stop", "stop_pre", "stop_post"].iter().any(|n| f(n)),
        })
    }
}

/// A run-time pass result that may still be on its way; `Err`: the pass failed (the start
/// fails with that).
#[derive(Default)]
pub struct PendingEvaluation {
    pub(super) value: std::cell::RefCell<Option<Result<Evaluated, String>>>,
    pub(super) ready: tokio::sync::Notify,
}

impl PendingEvaluation {
    /// Already known.
    pub fn known(v: Result<Evaluated, String>) -> Rc<PendingEvaluation> {
        let l = PendingEvaluation::default();
        *l.value.borrow_mut() = Some(v);
        Rc::new(l)
    }

    /// The first value set stays.
    pub fn set(&self, v: Result<Evaluated, String>) {
        let mut slot = self.value.borrow_mut();
        if slot.is_none() {
            *slot = Some(v);
            self.ready.notify_waiters();
        }
    }

    pub fn is_set(&self) -> bool {
        self.value.borrow().is_some()
    }

    /// The value, if known now.
    pub fn now(&self) -> Option<Result<Evaluated, String>> {
        self.value.borrow().clone()
    }

    pub async fn get(&self) -> Result<Evaluated, String> {
        loop {
            // Registered before the check: a set in between still wakes this.
            let notified = self.ready.notified();
            if let Some(v) = self.now() {
                return v;
            }
            notified.await;
        }
    }
}
