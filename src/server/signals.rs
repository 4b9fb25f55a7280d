//! Signals as events: the handler only writes the signal number into a pipe (async-signal-safe),
//! and the main thread's poll reads it like any other input.

use std::io::{self, Read};
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use mio::unix::pipe::{self, Receiver};

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; the fd stays open for the life of the process.
        unsafe {
            libc::write(fd, &b as *const u8 as *const libc::c_void, 1);
        }
    }
}

/// What a signal asks of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGINT / SIGTERM: shut down gracefully (the name is Go's, for the log line).
    Stop(&'static str),
    /// SIGHUP: reload the configuration file.
    Reload,
    /// SIGUSR1: reopen the log file.
    Reopen,
    /// SIGUSR2: lame-duck mode.
    LameDuck,
}

/// Route SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 into the returned pipe.
pub fn install() -> io::Result<Receiver> {
    let (tx, rx) = pipe::new()?;
    WRITE_FD.store(tx.into_raw_fd(), Ordering::Relaxed);
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        // SAFETY: installing a handler that only calls write(2).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(rx)
}

/// Read pending signals, in order.
pub fn drain(rx: &mut Receiver) -> Vec<Request> {
    let mut buf = [0u8; 32];
    let mut out = Vec::new();
    loop {
        match rx.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                for &s in &buf[..n] {
                    out.push(match s as libc::c_int {
                        libc::SIGINT => Request::Stop("interrupt"),
                        libc::SIGTERM => Request::Stop("terminated"),
                        libc::SIGHUP => Request::Reload,
                        libc::SIGUSR1 => Request::Reopen,
                        libc::SIGUSR2 => Request::LameDuck,
                        _ => continue,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    out
}

/// What `-sl` sends: nats-server's mapping of command names to signals.
pub fn for_command(cmd: &str) -> Option<libc::c_int> {
    Some(match cmd {
        "stop" => libc::SIGKILL,
        "quit" => libc::SIGINT,
        "term" => libc::SIGTERM,
        "reopen" => libc::SIGUSR1,
        "reload" => libc::SIGHUP,
        "ldm" => libc::SIGUSR2,
        _ => return None,
    })
}
