//! The stack a child runs on between clone and exec, and the clone itself.

/// The stack a child runs on between clone and exec: a mapping of its own whose lowest page is
/// inaccessible, so a child that overflows it faults instead of writing over rcinit's memory
/// (which, with CLONE_VM, it shares).
pub(super) struct Stack {
    pub(super) base: *mut libc::c_void,
    pub(super) len: usize,
}

impl Stack {
    pub(super) fn new(size: usize) -> std::io::Result<Stack> {
        // SAFETY: sysconf reads a constant of the system.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .ok()
            .filter(|p| p.is_power_of_two())
            .unwrap_or(4096);
        let len = size
            .div_ceil(page)
            .checked_add(1)
            .and_then(|pages| pages.checked_mul(page))
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENOMEM))?;
        // SAFETY: a new private anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let stack = Stack { base, len };
        // SAFETY: the first page of the mapping made above, which only `stack` owns.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// Where the child's stack pointer starts: the stack grows down on every architecture rcinit
    /// builds for, and the top is kept 16-byte aligned.
    pub(super) fn top(&self) -> *mut libc::c_void {
        ((self.base as usize + self.len) & !15) as *mut libc::c_void
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping `new` made, unmapped once (no child runs on it any more: the
        // callers drop it after the child exec'd or exited).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// clone(2) with every signal blocked around it: no handler of ours may run in a child that
/// shares or copies our memory before it has reset them (child_setup); our mask is restored
/// after. Returns the pid, or -1.
///
/// # Safety
/// `entry` runs with `arg` on `stack` in the child: both must stay valid for as long as `flags`
/// make the child use them.
pub(super) unsafe fn clone_blocked(
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    stack: &Stack,
    flags: libc::c_int,
    arg: *mut libc::c_void,
) -> i32 {
    let top = stack.top();
    // SAFETY: sigset_t is plain data, filled and read by sigfillset and pthread_sigmask; clone
    // as the caller vouches.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(entry, top, flags, arg);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        pid
    }
}
