//! Starts the worker, keeps it running and carries commands and events.
//!
//! The worker is restarted when it exits, crashes, closes the socket or
//! misses heartbeats for [`HEARTBEAT_TIMEOUT_MS`], following the
//! [`RestartPolicy`]. After every (re)start the UI's settings are sent
//! again, the downloads and installs the lost worker was running start
//! again (a download continues from its journal), queued commands follow,
//! and a fresh snapshot is requested, so the view catches up by itself.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use lanspread_proto::{FrameError, exit};
use std::collections::BTreeMap;

use lanspread_proto::ipc::{
    ActiveOperation, HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS, IpcCommand, IpcEvent, OperationKind, TOKEN_ENV,
};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ipc::{IpcListener, WorkerLink};
use crate::log::LogSink;
use crate::restart::{RestartDecision, RestartPolicy};

/// A started worker must connect within this time.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A worker asked to shut down gets this long before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// How to start the worker.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    pub worker_exe: PathBuf,
    /// Arguments after `ipc --socket NAME` (game directory, peers, …).
    pub worker_args: Vec<OsString>,
    /// Where the worker's stderr goes; inherited when `None`.
    pub log: Option<LogSink>,
}

/// The worker as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerState {
    Starting,
    Running {
        pid: u32,
    },
    Restarting {
        reason: String,
        retry_in: Duration,
    },
    /// Too many crashes in a row; waits for [`Supervisor::retry`].
    CrashLoop {
        reason: String,
        log_file: Option<PathBuf>,
    },
    Stopped,
}

/// What the supervisor reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SupervisorEvent {
    State(WorkerState),
    Worker(IpcEvent),
}

/// Handle to the supervising task.
#[derive(Debug)]
pub struct Supervisor {
    commands: mpsc::UnboundedSender<Control>,
    events: mpsc::UnboundedReceiver<SupervisorEvent>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
enum Control {
    Command(IpcCommand),
    Retry,
}

impl Supervisor {
    /// Binds the IPC socket and starts the first worker. Needs a tokio runtime.
    pub fn start(config: SupervisorConfig) -> Result<Supervisor, crate::ipc::IpcError> {
        let listener = IpcListener::bind()?;
        let (commands, control_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let run = Run {
            config,
            socket: listener.name().to_owned(),
            token: listener.token().to_owned(),
            events: events_tx,
            control: control_rx,
            pending: Vec::new(),
            settings: BTreeMap::new(),
            running: Vec::new(),
            policy: RestartPolicy::default(),
        };
        let (links_tx, links) = mpsc::unbounded_channel();
        tokio::spawn(listener.serve(links_tx));
        let task = tokio::spawn(run.run(links, shutdown.clone()));
        Ok(Supervisor { commands, events, shutdown, task })
    }

    /// Sends a command to the worker (queued while it restarts).
    pub fn send(&self, command: IpcCommand) {
        let _ = self.commands.send(Control::Command(command));
    }

    /// Leaves the crash-loop state and starts the worker again.
    pub fn retry(&self) {
        let _ = self.commands.send(Control::Retry);
    }

    pub async fn next_event(&mut self) -> Option<SupervisorEvent> {
        self.events.recv().await
    }

    /// Asks the worker to finish, kills it after a grace period, and waits.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), self.task).await;
    }
}

struct Run {
    config: SupervisorConfig,
    socket: String,
    token: String,
    events: mpsc::UnboundedSender<SupervisorEvent>,
    control: mpsc::UnboundedReceiver<Control>,
    /// Commands that arrived while no worker was connected.
    pending: Vec<IpcCommand>,
    /// The last setting of each kind, sent to every new worker.
    settings: BTreeMap<&'static str, IpcCommand>,
    /// What the connected worker last said it runs.
    running: Vec<ActiveOperation>,
    policy: RestartPolicy,
}

/// Commands that configure the worker rather than ask it for something once.
fn setting_key(command: &IpcCommand) -> Option<&'static str> {
    match command {
        IpcCommand::SetAutoInstall { .. } => Some("auto-install"),
        IpcCommand::SetTrust { .. } => Some("trust"),
        IpcCommand::SetGameDir { .. } => Some("game-dir"),
        IpcCommand::SetLimits { .. } => Some("limits"),
        _ => None,
    }
}

/// The command that starts `op` again on a new worker; `None` for paused
/// downloads (they wait for the user) and for uninstalls and removals
/// (the new worker's recovery finishes those by itself).
fn restart_command(op: &ActiveOperation) -> Option<IpcCommand> {
    let id = op.id.clone();
    match op.kind {
        _ if op.paused => None,
        OperationKind::Download => Some(IpcCommand::DownloadGame { id }),
        OperationKind::Update => Some(IpcCommand::FetchLatest { id }),
        OperationKind::Install => Some(IpcCommand::InstallGame { id }),
        OperationKind::Uninstall | OperationKind::Remove => None,
    }
}

/// How one worker's life ended.
enum Ended {
    /// The UI is closing.
    Shutdown,
    /// The worker went away; restart per policy.
    Lost(String),
}

impl Run {
    async fn run(mut self, mut links: mpsc::UnboundedReceiver<WorkerLink>, shutdown: CancellationToken) {
        loop {
            self.emit(SupervisorEvent::State(WorkerState::Starting));
            let started = Instant::now();
            let reason = match self.run_worker(&mut links, &shutdown).await {
                Ended::Shutdown => break,
                Ended::Lost(reason) => lanspread_proto::os_error::readable(&reason).into_owned(),
            };
            tracing::warn!("worker {reason}");
            match self.policy.on_exit(started, Instant::now()) {
                RestartDecision::RestartAfter(delay) => {
                    self.emit(SupervisorEvent::State(WorkerState::Restarting { reason, retry_in: delay }));
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
                RestartDecision::CrashLoop => {
                    let log_file = self.config.log.as_ref().map(|log| log.path().to_owned());
                    self.emit(SupervisorEvent::State(WorkerState::CrashLoop { reason, log_file }));
                    if !self.wait_for_retry(&shutdown).await {
                        break;
                    }
                    self.policy.reset();
                }
            }
        }
        self.emit(SupervisorEvent::State(WorkerState::Stopped));
    }

    async fn wait_for_retry(&mut self, shutdown: &CancellationToken) -> bool {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return false,
                control = self.control.recv() => match control {
                    Some(Control::Retry) => return true,
                    Some(Control::Command(command)) => self.queue(command),
                    None => return false,
                },
            }
        }
    }

    fn queue(&mut self, command: IpcCommand) {
        if let Some(key) = setting_key(&command) {
            self.settings.insert(key, command);
        } else if !matches!(command, IpcCommand::Heartbeat) {
            self.pending.push(command);
        }
    }

    fn emit(&self, event: SupervisorEvent) {
        let _ = self.events.send(event);
    }

    fn spawn_worker(&self) -> std::io::Result<Child> {
        let mut command = Command::new(&self.config.worker_exe);
        command.arg("ipc").arg("--socket").arg(&self.socket).args(&self.config.worker_args);
        command.env(TOKEN_ENV, &self.token).stdin(Stdio::null()).stdout(Stdio::null()).kill_on_drop(true);
        crate::platform::hide_console(&mut command);
        command.stderr(if self.config.log.is_some() { Stdio::piped() } else { Stdio::inherit() });
        let mut child = command.spawn()?;
        if let (Some(log), Some(stderr)) = (&self.config.log, child.stderr.take()) {
            let log = log.clone();
            tokio::spawn(async move { log.copy_lines(tokio::io::BufReader::new(stderr)).await });
        }
        Ok(child)
    }

    async fn run_worker(
        &mut self,
        links: &mut mpsc::UnboundedReceiver<WorkerLink>,
        shutdown: &CancellationToken,
    ) -> Ended {
        let mut child = match self.spawn_worker() {
            Ok(child) => child,
            Err(e) => {
                return Ended::Lost(format!("could not start {}: {e}", self.config.worker_exe.display()));
            }
        };
        // Drop links left over from a previous worker.
        while links.try_recv().is_ok() {}
        let link = tokio::select! {
            () = shutdown.cancelled() => { let _ = child.kill().await; return Ended::Shutdown }
            status = child.wait() => return Ended::Lost(exit_reason(status)),
            () = tokio::time::sleep(CONNECT_TIMEOUT) => {
                let _ = child.kill().await;
                return Ended::Lost(format!("did not connect within {CONNECT_TIMEOUT:?}"));
            }
            link = links.recv() => match link {
                Some(link) => link,
                None => return Ended::Lost("the IPC listener stopped".into()),
            },
        };
        self.emit(SupervisorEvent::State(WorkerState::Running { pid: link.worker_pid }));
        self.session(child, link, shutdown).await
    }

    /// One connected worker, until it is lost or the UI shuts down.
    async fn session(&mut self, mut child: Child, link: WorkerLink, shutdown: &CancellationToken) -> Ended {
        let WorkerLink { reader, mut writer, .. } = link;
        let (frames_tx, mut frames) = mpsc::unbounded_channel();
        let reader_task = tokio::spawn(read_events(reader, frames_tx));
        let mut outgoing: Vec<IpcCommand> = self.settings.values().cloned().collect();
        outgoing.extend(std::mem::take(&mut self.running).iter().filter_map(restart_command));
        outgoing.append(&mut self.pending);
        outgoing.push(IpcCommand::ListGames);
        let mut heartbeat = tokio::time::interval(Duration::from_millis(HEARTBEAT_INTERVAL_MS));
        let timeout = Duration::from_millis(HEARTBEAT_TIMEOUT_MS);
        let mut last_heard = Instant::now();
        let ended = loop {
            for command in outgoing.drain(..) {
                if let Err(e) = lanspread_proto::io::write_frame(&mut writer, &command).await {
                    tracing::debug!("ipc write: {e}");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => {
                    let _ = lanspread_proto::io::write_frame(&mut writer, &IpcCommand::Shutdown).await;
                    if tokio::time::timeout(SHUTDOWN_GRACE, child.wait()).await.is_err() {
                        let _ = child.kill().await;
                    }
                    break Ended::Shutdown;
                }
                status = child.wait() => break Ended::Lost(exit_reason(status)),
                frame = frames.recv() => match frame {
                    Some(Ok(event)) => {
                        last_heard = Instant::now();
                        if let IpcEvent::ActiveOperations(ops) = &event {
                            self.running.clone_from(ops);
                        }
                        if event != IpcEvent::Heartbeat {
                            self.emit(SupervisorEvent::Worker(event));
                        }
                    }
                    // A dying worker resets the socket or stops mid-frame:
                    // its exit, not the frame, is the reason.
                    Some(Err(e @ (FrameError::Io { .. } | FrameError::Truncated { .. }))) => {
                        break Ended::Lost(exit_or(&mut child, format!("closed the socket ({e})")).await);
                    }
                    Some(Err(e)) => {
                        let _ = child.kill().await;
                        break Ended::Lost(format!("sent a bad frame: {e}"));
                    }
                    None => break Ended::Lost(exit_or(&mut child, "closed the socket".into()).await),
                },
                control = self.control.recv() => match control {
                    Some(Control::Command(command)) => {
                        if let Some(key) = setting_key(&command) {
                            self.settings.insert(key, command.clone());
                        }
                        outgoing.push(command);
                    }
                    Some(Control::Retry) | None => {}
                },
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > timeout {
                        let _ = child.kill().await;
                        break Ended::Lost(format!("missed heartbeats for {timeout:?}"));
                    }
                    outgoing.push(IpcCommand::Heartbeat);
                }
            }
        };
        reader_task.abort();
        ended
    }
}

async fn read_events(
    mut reader: tokio::io::ReadHalf<interprocess::local_socket::tokio::Stream>,
    frames: mpsc::UnboundedSender<Result<IpcEvent, FrameError>>,
) {
    lanspread_proto::io::forward_frames(&mut reader, |frame| frames.send(frame).is_ok()).await;
}

/// Why a worker whose socket closed is gone: its exit, if it exits within
/// a second; else it is killed and `otherwise` is the reason.
async fn exit_or(child: &mut Child, otherwise: String) -> String {
    let status = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
    let _ = child.kill().await;
    match status {
        Ok(status) => exit_reason(status),
        Err(_) => otherwise,
    }
}

fn exit_reason(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Err(e) => format!("could not be waited for: {e}"),
        Ok(status) => match status.code() {
            Some(code) => format!("{} (exit code {code})", exit::describe(code)),
            None => format!("was killed ({status})"),
        },
    }
}
