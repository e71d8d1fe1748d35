//! `haul serve`: the local COS-compatible server in the foreground.
//!
//! Prints `listening http://IP:PORT` as the very first line on stdout (scripts wait for it),
//! then the credentials to use; runs until SIGINT or SIGTERM, then exits 0.

use std::io::Write as _;

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub options: crate::server::ServeArgs,
}

pub fn run(_global: &GlobalArgs, args: Args) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return super::fail(super::exit::FAILED, format!("cannot start tokio: {e}")),
    };
    rt.block_on(serve(args.options))
}

async fn serve(options: crate::server::ServeArgs) -> i32 {
    // Install the signal handlers before announcing the address, so that a SIGTERM sent as
    // soon as the first line appears is already handled.
    let signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            return super::fail(
                super::exit::FAILED,
                format!("cannot install signal handlers: {e}"),
            )
        }
    };
    let handle = match crate::server::start(options).await {
        Ok(h) => h,
        Err(e) => return super::fail(super::exit::USAGE, format!("{e:#}")),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening {}", handle.endpoint());
    for (id, key) in &handle.credentials {
        let _ = writeln!(out, "credentials {id}:{key}");
    }
    let _ = writeln!(
        out,
        "try: TENCENTCLOUD_SECRET_ID={} TENCENTCLOUD_SECRET_KEY=… haul --endpoint {} ls",
        handle
            .credentials
            .first()
            .map(|c| c.0.as_str())
            .unwrap_or(""),
        handle.endpoint()
    );
    let _ = out.flush();
    drop(out);
    signals.wait().await;
    handle.shutdown().await;
    super::exit::OK
}

#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Signals)
    }

    async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
