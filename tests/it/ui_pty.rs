//! End to end in a real pseudo-terminal: `ui::run` draws, takes keys, quits through the quit
//! dialog (sending Pause + Shutdown), and leaves the terminal restored — also on SIGTERM.
//!
//! The child is this test binary re-run with `HAUL_UI_PTY_CHILD` set, so it runs the UI on a
//! minimal fake engine inside the PTY the parent reads through vt100.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use haul::engine::{BrowseRequest, Command, Event, JobState, Listing};
use haul::store::{BucketInfo, CosUri};
use portable_pty::{native_pty_system, CommandBuilder, PtySize};

const CHILD: &str = "HAUL_UI_PTY_CHILD";

/// The child: runs the UI with a fake engine that lists two buckets and has one running job.
/// Exits 0 only if the commands the UI sent end with the expected ones.
#[test]
fn pty_child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let got = rt.block_on(async {
        let (cmd_tx, mut cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = tokio::sync::mpsc::unbounded_channel();
        ev_tx
            .send(Event::JobAdded {
                id: 1,
                spec: haul::engine::CopySpec {
                    source: CosUri::parse("cos://media-1250000000/a.mov").unwrap(),
                    destination: CosUri::parse("cos://backup-1250000000/a.mov").unwrap(),
                    options: Default::default(),
                },
                state: JobState::Running,
                journaled: true,
            })
            .unwrap();
        let engine = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(c) = cmd_rx.recv().await {
                if let Command::Browse(BrowseRequest::Buckets) = c {
                    let b = ["media-1250000000", "backup-1250000000"].map(|n| BucketInfo {
                        name: n.into(),
                        region: "ap-shanghai".into(),
                        created: None,
                    });
                    let _ = ev_tx.send(Event::Listing(Listing::Buckets(Ok(b.to_vec()))));
                }
                let stop = matches!(c, Command::Shutdown);
                seen.push(format!("{c:?}"));
                if stop {
                    break;
                }
            }
            seen
        });
        let ui = haul::ui::run(cmd_tx, ev_rx, haul::ui::UiOptions::new("pty"));
        ui.await.unwrap();
        engine.await.unwrap()
    });
    let tail: Vec<&str> = got.iter().rev().take(2).map(|s| s.as_str()).collect();
    match mode.as_str() {
        "quit" => assert_eq!(tail, vec!["Shutdown", "Pause(1)"], "{got:?}"),
        _ => assert_eq!(tail[0], "Shutdown", "{got:?}"),
    }
}

struct Pty {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    raw: Arc<Mutex<Vec<u8>>>,
    screen: Arc<Mutex<vt100::Parser>>,
}

fn spawn(mode: &str) -> Pty {
    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows: 30,
            cols: 100,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "ui_pty::pty_child",
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd.env(CHILD, mode);
    cmd.env("TERM", "xterm-256color");
    let child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let writer = pair.master.take_writer().unwrap();
    let raw = Arc::new(Mutex::new(Vec::new()));
    let screen = Arc::new(Mutex::new(vt100::Parser::new(30, 100, 0)));
    let (r2, s2) = (raw.clone(), screen.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            r2.lock().unwrap().extend_from_slice(&buf[..n]);
            s2.lock().unwrap().process(&buf[..n]);
        }
    });
    // Keep the master alive for the child's lifetime.
    std::mem::forget(pair.master);
    Pty {
        child,
        writer,
        raw,
        screen,
    }
}

impl Pty {
    fn wait_for(&self, text: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if self
                .screen
                .lock()
                .unwrap()
                .screen()
                .contents()
                .contains(text)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{text:?} never appeared; screen:\n{}",
            self.screen.lock().unwrap().screen().contents()
        );
    }

    fn send(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("the UI did not exit");
    }

    /// The child exits 0 and leaves the terminal as it found it.
    fn assert_exited_cleanly_and_restored(&mut self) {
        let status = self.wait_exit();
        assert!(
            status.success(),
            "child failed:\n{}",
            String::from_utf8_lossy(&self.raw.lock().unwrap())
        );
        assert!(self.left_alternate_screen(), "terminal not restored");
    }

    fn left_alternate_screen(&self) -> bool {
        let raw = self.raw.lock().unwrap();
        let s = String::from_utf8_lossy(&raw);
        let enter = s.find("\x1b[?1049h");
        let leave = s.rfind("\x1b[?1049l");
        matches!((enter, leave), (Some(e), Some(l)) if l > e) && s.contains("\x1b[?25h")
    }
}

#[test]
fn pty_quit_with_running_job_pauses_it_and_restores_the_terminal() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let mut p = spawn("quit");
    p.wait_for("Buckets · 2");
    p.send("2");
    p.wait_for("1 job:");
    p.send("q");
    p.wait_for("Quit haul?");
    p.send("y");
    p.assert_exited_cleanly_and_restored();
}

#[test]
fn pty_sigterm_restores_the_terminal() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let mut p = spawn("term");
    p.wait_for("Buckets · 2");
    let pid = p.child.process_id().expect("child pid") as i32;
    // SAFETY: sending SIGTERM to the child we spawned.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    p.assert_exited_cleanly_and_restored();
}

#[test]
fn pty_ctrl_z_leaves_and_reenters_the_screen_and_keeps_working() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let mut p = spawn("quit");
    p.wait_for("Buckets · 2");
    // The child leads an orphaned process group here, so the kernel discards the SIGTSTP it
    // raises and it continues at once: what is tested is leaving and re-entering the screen.
    p.send("\x1a");
    let start = Instant::now();
    loop {
        let n = String::from_utf8_lossy(&p.raw.lock().unwrap())
            .matches("\x1b[?1049h")
            .count();
        if n >= 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the UI did not re-enter after Ctrl-z"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    p.send("2");
    p.wait_for("1 job:");
    p.send("q");
    p.wait_for("Quit haul?");
    p.send("y");
    p.assert_exited_cleanly_and_restored();
}
