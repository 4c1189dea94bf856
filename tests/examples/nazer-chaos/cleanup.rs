//! What must be undone whatever happens: a stopped RabbitMQ or PostgreSQL, a network namespace,
//! the campaign's vhost, its child processes. Each undo is registered when its cause is made
//! and runs once: when the campaign is done with it, at exit, on Ctrl-C or SIGTERM, and (for
//! the restorations of shared servers) on any panic.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

type Undo = Box<dyn FnOnce() + Send>;

struct Pending {
    id: u64,
    what: String,
    on_panic: bool,
    undo: Undo,
}

static PENDING: Mutex<Vec<Pending>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

/// One registered undo; dropping the token leaves it registered (it then runs at exit).
#[must_use = "keep the token to undo (run) or forget (disarm) it once the fault is over"]
pub struct Token(u64);

fn register(what: &str, on_panic: bool, undo: impl FnOnce() + Send + 'static) -> Token {
    let id = NEXT.fetch_add(1, Ordering::SeqCst);
    let pending = Pending { id, what: what.to_string(), on_panic, undo: Box::new(undo) };
    lock().push(pending);
    Token(id)
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Pending>> {
    PENDING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Restores a server others use too: runs on panic as well.
pub fn restore(what: &str, undo: impl FnOnce() + Send + 'static) -> Token {
    register(what, true, undo)
}

/// Removes something of the campaign's own, at the latest at exit.
pub fn at_exit(what: &str, undo: impl FnOnce() + Send + 'static) -> Token {
    register(what, false, undo)
}

impl Token {
    /// Runs the undo now (if it has not run yet).
    pub fn run(self) {
        let taken = {
            let mut pending = lock();
            pending.iter().position(|p| p.id == self.0).map(|i| pending.remove(i))
        };
        if let Some(pending) = taken {
            (pending.undo)();
        }
    }

    /// The cause is gone by itself: nothing to undo.
    pub fn disarm(self) {
        lock().retain(|p| p.id != self.0);
    }
}

/// Runs every pending undo (only the restorations when `panicking`), newest first.
pub fn run_all(panicking: bool) {
    let taken: Vec<Pending> = {
        let mut pending = lock();
        let (run, keep): (Vec<_>, Vec<_>) = pending.drain(..).partition(|p| !panicking || p.on_panic);
        *pending = keep;
        run
    };
    for pending in taken.into_iter().rev() {
        eprintln!("cleanup: {}", pending.what);
        (pending.undo)();
    }
}

/// Runs the restorations on any panic (a scenario's task included) and everything on Ctrl-C
/// or SIGTERM, then exits.
pub fn install() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        run_all(true);
    }));
    tokio::spawn(async {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(error) => {
                eprintln!("no SIGTERM handler ({error}); Ctrl-C still cleans up");
                let _ = tokio::signal::ctrl_c().await;
                run_all(false);
                std::process::exit(130);
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("interrupted: cleaning up");
        run_all(false);
        std::process::exit(130);
    });
}

/// Runs everything still pending when dropped: the normal end of `main`, or its unwinding.
pub struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        run_all(false);
    }
}

/// Runs `program` with `args` to completion (for undos, which may run outside the runtime);
/// whether it succeeded.
pub fn run_command(program: &str, args: &[&str]) -> bool {
    match std::process::Command::new(program).args(args).stdout(std::process::Stdio::null()).status() {
        Ok(status) => status.success(),
        Err(error) => {
            eprintln!("cleanup: cannot run {program}: {error}");
            false
        }
    }
}
