//! Simulated boards on pseudo-terminals: the runtime shared by the JBD and Daly simulators.
//!
//! A board ([`Board`]) turns one request frame into reply frames; this module owns the pty,
//! frames what the host writes, paces replies at the configured baud rate (10 bits per byte,
//! because a pty delivers instantly and a benchmark against it would otherwise lie), and
//! injects wire faults. The pty's path is printed on stdout as the first line and, with
//! `--link PATH`, symlinked to PATH (replaced atomically, so a client re-opening PATH after a
//! simulated unplug finds the new pty).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use packwright_protocol::framing::{FrameFormat, FramerEvent, StreamFramer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_serial::SerialStream;

use crate::chemistry::Chemistry;

/// Small deterministic generator (xorshift64*), so a `--seed` replays the same faults.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Faults on request, parsed from `--fault SPEC` (repeatable, or comma-separated).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Probability that a reply frame loses one byte.
    pub drop: f64,
    /// Probability that a reply frame's checksum is corrupted.
    pub corrupt: f64,
    /// Write replies in random small pieces with pauses.
    pub split: bool,
    /// Extra delay before every reply.
    pub delay: Duration,
    /// Probability of junk bytes before a reply.
    pub junk: f64,
    /// The board sleeps after this much silence and ignores the first request that wakes it.
    /// It starts asleep.
    pub sleep_after: Option<Duration>,
    /// Registers (JBD) or settings (Daly: `soc`, `charge_mos`, `discharge_mos`) whose writes
    /// are acknowledged but never stored.
    pub nostore: Vec<String>,
    /// JBD registers stored during the factory session but lost on save.
    pub nopersist: Vec<String>,
    /// After this many replies the pty vanishes (adapter unplugged) for `disconnect_for`.
    pub disconnect_after: Option<u64>,
    pub disconnect_for: Duration,
    /// Cell (1-based) driven 50 mV above the configured cell over-voltage trigger.
    pub overvoltage_cell: Option<usize>,
    /// Cells (1-based) sitting this many mV off their neighbours: a weak cell (negative) or
    /// one swapped in from another batch at a different charge.
    pub cell_offsets: Vec<(usize, f64)>,
    /// Temperature sensors (1-based) that read an open circuit.
    pub dead_sensors: Vec<usize>,
}

impl Faults {
    pub const HELP: &'static str =
        "drop=P, corrupt=P, junk=P (probabilities 0..1), split, delay=MS, \
sleep[=IDLE_MS], nostore=REG[+REG…], nopersist=REG[+REG…], disconnect=N[:MS], overvoltage=CELL, \
offset=CELL:MV, deadntc=SENSOR";

    /// Parse one or more comma-separated fault specs into `self`.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (item, None),
            };
            let need = |what: &str| -> Result<&str, String> {
                value.ok_or_else(|| format!("fault '{name}' needs a value: {name}={what}"))
            };
            let prob = |v: &str| -> Result<f64, String> {
                v.parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or_else(|| {
                        format!("fault '{name}': '{v}' is not a probability between 0 and 1")
                    })
            };
            let millis = |v: &str| -> Result<Duration, String> {
                v.parse::<u64>().map(Duration::from_millis).map_err(|_| {
                    format!("fault '{name}': '{v}' is not a whole number of milliseconds")
                })
            };
            let list = |v: &str| -> Vec<String> {
                v.split('+')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            };
            match name {
                "drop" => self.drop = prob(need("P")?)?,
                "corrupt" => self.corrupt = prob(need("P")?)?,
                "junk" => self.junk = prob(need("P")?)?,
                "split" => self.split = true,
                "delay" => self.delay = millis(need("MS")?)?,
                "sleep" => {
                    self.sleep_after = Some(
                        value
                            .map(millis)
                            .transpose()?
                            .unwrap_or(Duration::from_millis(1000)),
                    )
                }
                "nostore" => self.nostore.extend(list(need("REG")?)),
                "nopersist" => self.nopersist.extend(list(need("REG")?)),
                "disconnect" => {
                    let v = need("N[:MS]")?;
                    let (n, ms) = v.split_once(':').unwrap_or((v, "1000"));
                    self.disconnect_after = Some(n.parse().map_err(|_| {
                        format!("fault 'disconnect': '{n}' is not a number of replies")
                    })?);
                    self.disconnect_for = millis(ms)?;
                }
                "overvoltage" => {
                    let v = need("CELL")?;
                    self.overvoltage_cell =
                        Some(v.parse().ok().filter(|c| *c >= 1).ok_or_else(|| {
                            format!("fault 'overvoltage': '{v}' is not a cell number (1 or more)")
                        })?);
                }
                "offset" => {
                    let v = need("CELL:MV")?;
                    let parsed = v.split_once(':').and_then(|(c, mv)| {
                        let c = c.trim().parse::<usize>().ok().filter(|c| *c >= 1)?;
                        let mv = mv.trim().parse::<f64>().ok().filter(|mv| mv.is_finite())?;
                        Some((c, mv))
                    });
                    self.cell_offsets.push(parsed.ok_or_else(|| {
                        format!("fault 'offset': '{v}' is not CELL:MV (e.g. 7:-400)")
                    })?);
                }
                "deadntc" => {
                    let v = need("SENSOR")?;
                    self.dead_sensors
                        .push(v.parse().ok().filter(|s| *s >= 1).ok_or_else(|| {
                            format!("fault 'deadntc': '{v}' is not a sensor number (1 or more)")
                        })?);
                }
                other => return Err(format!("unknown fault '{other}'; known: {}", Faults::HELP)),
            }
        }
        Ok(())
    }
}

/// What frames the host's requests for a board: a start-byte protocol's [`StreamFramer`], or
/// the Modbus RTU framer (no start byte).
pub trait RequestFramer: Send {
    fn push(&mut self, bytes: &[u8]);
    fn next_event(&mut self) -> Option<FramerEvent>;
}

impl<F: FrameFormat + Send> RequestFramer for StreamFramer<F> {
    fn push(&mut self, bytes: &[u8]) {
        StreamFramer::push(self, bytes)
    }

    fn next_event(&mut self) -> Option<FramerEvent> {
        StreamFramer::next_event(self)
    }
}

impl RequestFramer for packwright_protocol::modbus::Framer {
    fn push(&mut self, bytes: &[u8]) {
        packwright_protocol::modbus::Framer::push(self, bytes)
    }

    fn next_event(&mut self) -> Option<FramerEvent> {
        packwright_protocol::modbus::Framer::next_event(self)
    }
}

/// A simulated board: answers request frames, keeps its own state.
pub trait Board: Send {
    type Framer: RequestFramer;

    /// Framer for what the host sends.
    fn request_framer(&self) -> Self::Framer;

    /// Reply frames for one verified request; empty to stay silent (not addressed to us).
    fn handle(&mut self, request: &[u8], rng: &mut Rng) -> Vec<Vec<u8>>;

    /// Where a reply frame of `len` bytes keeps its checksum (for the corrupt fault).
    fn checksum_range(len: usize) -> Range<usize>;
}

/// How the simulator runs.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub baud: u32,
    /// Time the board takes between the end of a request and the start of its reply.
    pub turnaround: Duration,
    pub link: Option<PathBuf>,
    pub faults: Faults,
    pub seed: u64,
}

/// Simulator failures: only setting up the pty or the link can fail.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot open a pseudo-terminal: {0}")]
    Pty(String),
    #[error("cannot link {link} to {target}: {source}")]
    Link {
        link: PathBuf,
        target: String,
        source: std::io::Error,
    },
}

/// An open pseudo-terminal: the master we serve on and the slave's path for the client. The
/// slave end is kept open so the pty survives clients opening and closing it.
pub struct Pty {
    pub master: SerialStream,
    _slave: SerialStream,
    pub path: String,
}

impl Pty {
    pub fn open() -> Result<Pty, SimError> {
        let (master, slave) = SerialStream::pair().map_err(|e| SimError::Pty(e.to_string()))?;
        use tokio_serial::SerialPort;
        let path = slave
            .name()
            .ok_or_else(|| SimError::Pty("the pty has no slave path".into()))?;
        Ok(Pty {
            master,
            _slave: slave,
            path,
        })
    }
}

/// Point `link` at `target`, replacing an old link atomically.
pub fn relink(link: &Path, target: &str) -> Result<(), SimError> {
    let err = |source| SimError::Link {
        link: link.to_path_buf(),
        target: target.to_string(),
        source,
    };
    let tmp = link.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(err)?;
    std::fs::rename(&tmp, link).map_err(err)
}

/// How many times each wire fault was injected: `packwright sim` prints them when it stops,
/// so a test can prove that the fault it asked for happened.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub corrupt: AtomicU64,
    pub drop: AtomicU64,
    pub junk: AtomicU64,
    /// Replies sent in pieces.
    pub split: AtomicU64,
    /// Replies sent late.
    pub delay: AtomicU64,
    /// Requests ignored because they only woke the board.
    pub sleep: AtomicU64,
    /// Simulated unplugs.
    pub disconnect: AtomicU64,
}

impl FaultCounts {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `corrupt=N drop=N junk=N split=N delay=N sleep=N disconnect=N`.
    pub fn summary(&self) -> String {
        [
            ("corrupt", &self.corrupt),
            ("drop", &self.drop),
            ("junk", &self.junk),
            ("split", &self.split),
            ("delay", &self.delay),
            ("sleep", &self.sleep),
            ("disconnect", &self.disconnect),
        ]
        .iter()
        .map(|(name, n)| format!("{name}={}", n.load(Ordering::Relaxed)))
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// Serve `board` until the process is stopped. `announce` receives each pty path as it is
/// opened (the first one, and a new one after every simulated unplug).
pub async fn serve<B: Board>(
    board: B,
    opts: SimOptions,
    announce: impl FnMut(&str),
) -> Result<(), SimError> {
    serve_counting(board, opts, &FaultCounts::default(), announce).await
}

/// [`serve`], counting the faults it injects into `counts`.
pub async fn serve_counting<B: Board>(
    mut board: B,
    opts: SimOptions,
    counts: &FaultCounts,
    mut announce: impl FnMut(&str),
) -> Result<(), SimError> {
    let mut rng = Rng::new(opts.seed);
    let mut replies_sent = 0u64;
    loop {
        let pty = Pty::open()?;
        if let Some(link) = &opts.link {
            relink(link, &pty.path)?;
        }
        announce(&pty.path);
        let mut session = Session {
            master: pty.master,
            framer: board.request_framer(),
            opts: &opts,
            counts,
            last_request: None,
        };
        let unplug = session.run(&mut board, &mut rng, &mut replies_sent).await;
        // The adapter is "unplugged": the pty (both ends) and the link go away for a while.
        drop(session);
        drop(pty._slave);
        if let Some(link) = &opts.link {
            let _ = std::fs::remove_file(link);
        }
        match unplug {
            Unplug::Now => {
                FaultCounts::bump(&counts.disconnect);
                tokio::time::sleep(opts.faults.disconnect_for).await
            }
            Unplug::MasterFailed(e) => {
                tracing::warn!("pty master failed ({e}); opening a new one");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

enum Unplug {
    Now,
    MasterFailed(String),
}

struct Session<'a, F> {
    master: SerialStream,
    framer: F,
    opts: &'a SimOptions,
    counts: &'a FaultCounts,
    last_request: Option<Instant>,
}

impl<F: RequestFramer> Session<'_, F> {
    async fn run<B: Board<Framer = F>>(
        &mut self,
        board: &mut B,
        rng: &mut Rng,
        replies_sent: &mut u64,
    ) -> Unplug {
        let faults = &self.opts.faults;
        let mut buf = [0u8; 512];
        loop {
            let n = match self.master.read(&mut buf).await {
                Ok(0) => return Unplug::MasterFailed("end of file".into()),
                Ok(n) => n,
                // EIO while no client has the slave open: not an unplug, just nobody there.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                Err(e) => return Unplug::MasterFailed(e.to_string()),
            };
            let arrived = Instant::now();
            self.framer.push(&buf[..n]);
            while let Some(event) = self.framer.next_event() {
                let FramerEvent::Frame(request) = event else {
                    continue;
                };
                if let Some(idle) = faults.sleep_after {
                    let asleep = self.last_request.is_none_or(|t| arrived - t >= idle);
                    self.last_request = Some(arrived);
                    if asleep {
                        // Sleep mode: the first frame only wakes the board.
                        FaultCounts::bump(&self.counts.sleep);
                        continue;
                    }
                }
                // The request took its wire time to arrive; then the board thinks.
                let mut ready = arrived
                    + wire_time(self.opts.baud, request.len())
                    + self.opts.turnaround
                    + faults.delay;
                for reply in board.handle(&request, rng) {
                    let reply = self.damage::<B>(reply, rng);
                    if !faults.delay.is_zero() {
                        FaultCounts::bump(&self.counts.delay);
                    }
                    match self.send_paced(&reply, ready, rng).await {
                        Ok(done) => ready = done,
                        Err(e) => return Unplug::MasterFailed(e.to_string()),
                    }
                    *replies_sent += 1;
                    // One unplug, after the N-th reply of the simulator's life.
                    if faults.disconnect_after == Some(*replies_sent) {
                        return Unplug::Now;
                    }
                }
            }
        }
    }

    fn damage<B: Board>(&self, mut reply: Vec<u8>, rng: &mut Rng) -> Vec<u8> {
        let f = &self.opts.faults;
        if rng.chance(f.corrupt) {
            let range = B::checksum_range(reply.len());
            let at = range.start + rng.below(range.len());
            reply[at] ^= 1 << rng.below(8);
            FaultCounts::bump(&self.counts.corrupt);
        }
        if rng.chance(f.drop) && !reply.is_empty() {
            reply.remove(rng.below(reply.len()));
            FaultCounts::bump(&self.counts.drop);
        }
        if rng.chance(f.junk) {
            let n = 1 + rng.below(8);
            let mut junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            junk.extend_from_slice(&reply);
            reply = junk;
            FaultCounts::bump(&self.counts.junk);
        }
        reply
    }

    /// Send a frame that starts leaving at `start` at the baud rate: it is complete on the
    /// client's side no earlier than `start` + its wire time, the moment returned. One timer
    /// per frame, so timer granularity does not pile up per byte; with the split fault the
    /// frame goes out in random pieces, each at its own time.
    async fn send_paced(
        &mut self,
        bytes: &[u8],
        start: Instant,
        rng: &mut Rng,
    ) -> std::io::Result<Instant> {
        let done = start + wire_time(self.opts.baud, bytes.len());
        if !self.opts.faults.split {
            tokio::time::sleep_until(done).await;
            self.master.write_all(bytes).await?;
            return Ok(done);
        }
        FaultCounts::bump(&self.counts.split);
        let mut sent = 0;
        while sent < bytes.len() {
            let end = (sent + 1 + rng.below(7)).min(bytes.len());
            tokio::time::sleep_until(start + wire_time(self.opts.baud, end)).await;
            self.master.write_all(&bytes[sent..end]).await?;
            // The pause that makes the client see the frame in pieces.
            tokio::time::sleep(Duration::from_millis(1 + rng.below(4) as u64)).await;
            sent = end;
        }
        Ok(done.max(Instant::now()))
    }
}

/// Wire time of `bytes` at `baud`, 10 bits per byte.
pub fn wire_time(baud: u32, bytes: usize) -> Duration {
    Duration::from_secs_f64(bytes as f64 * 10.0 / f64::from(baud.max(1)))
}

/// A pack that looks alive: an open-circuit voltage from the state of charge, a fixed
/// imbalance per cell, a wandering load current that charges or discharges it (within what the
/// FETs allow), IR drop, measurement noise and slowly drifting temperatures. Both simulated
/// boards read their live values from it.
#[derive(Debug, Clone)]
pub struct LivePack {
    chemistry: Chemistry,
    offsets_mv: Vec<f64>,
    pub cells_mv: Vec<f64>,
    pub temps_c: Vec<f64>,
    pub current_a: f64,
    load_a: f64,
    /// 0..1.
    pub soc: f64,
    pub capacity_ah: f64,
    last: Option<std::time::Instant>,
    /// 1-based sensors reading an open circuit.
    dead_sensors: Vec<usize>,
}

/// What an open (broken or unplugged) NTC reads as: the bottom of a typical NTC table.
pub const OPEN_NTC_C: f64 = -40.0;

impl LivePack {
    pub fn new(
        chemistry: Chemistry,
        cells: usize,
        sensors: usize,
        capacity_ah: f64,
        rng: &mut Rng,
    ) -> LivePack {
        let offsets_mv: Vec<f64> = (0..cells).map(|_| rng.range(-12.0, 12.0)).collect();
        let mut pack = LivePack {
            chemistry,
            cells_mv: vec![0.0; cells],
            offsets_mv,
            temps_c: (0..sensors).map(|_| rng.range(23.0, 26.0)).collect(),
            current_a: -2.0,
            load_a: -2.0,
            soc: 0.6,
            capacity_ah,
            last: None,
            dead_sensors: Vec::new(),
        };
        pack.update(true, true, None, rng);
        pack
    }

    /// Open-circuit voltage per cell at `soc` (0..1), mV: a piecewise-linear curve through
    /// points taken from the chemistry's envelope.
    pub fn ocv_mv(chemistry: Chemistry, soc: f64) -> f64 {
        let l = chemistry.hard_limits();
        let (min, nom, top) = (
            f64::from(l.min_cell_mv),
            f64::from(l.nominal_mv),
            f64::from(l.max_charge_mv),
        );
        let points = [
            (0.0, min + 0.45 * (nom - min)),
            (0.1, nom - 0.12 * (nom - min)),
            (0.5, nom + 0.02 * (top - nom)),
            (0.9, nom + 0.35 * (top - nom)),
            (1.0, top - 0.25 * (top - nom)),
        ];
        let soc = soc.clamp(0.0, 1.0);
        for w in points.windows(2) {
            let ((s0, v0), (s1, v1)) = (w[0], w[1]);
            if soc <= s1 {
                return v0 + (v1 - v0) * (soc - s0) / (s1 - s0);
            }
        }
        points[4].1
    }

    /// Advance to now. `forced` pins one cell (index, mV), e.g. a cell pushed over its limit.
    pub fn update(
        &mut self,
        charge_allowed: bool,
        discharge_allowed: bool,
        forced: Option<(usize, f64)>,
        rng: &mut Rng,
    ) {
        let now = std::time::Instant::now();
        let dt = self
            .last
            .map_or(0.0, |t| now.duration_since(t).as_secs_f64())
            .min(60.0);
        self.last = Some(now);
        // The load wanders (with time, not per read) between a light charge and a moderate
        // discharge; near zero it is idle, so the sign never flips between two quick reads.
        self.load_a = (self.load_a + rng.range(-0.6, 0.6) * dt.sqrt().min(2.0)).clamp(-6.0, 3.0);
        self.current_a = if self.load_a.abs() < 0.3 {
            0.0
        } else {
            self.load_a
        };
        if !charge_allowed {
            self.current_a = self.current_a.min(0.0);
        }
        if !discharge_allowed {
            self.current_a = self.current_a.max(0.0);
        }
        if self.capacity_ah > 0.0 {
            self.soc = (self.soc + self.current_a * dt / 3600.0 / self.capacity_ah).clamp(0.0, 1.0);
        }
        let ocv = Self::ocv_mv(self.chemistry, self.soc);
        // 1 mΩ per cell of internal resistance seen by the current.
        let ir_mv = self.current_a * 1.0;
        for (i, v) in self.cells_mv.iter_mut().enumerate() {
            *v = ocv + self.offsets_mv[i] + ir_mv + rng.range(-1.5, 1.5);
        }
        if let Some((i, mv)) = forced {
            if let Some(v) = self.cells_mv.get_mut(i) {
                *v = mv;
            }
        }
        for t in &mut self.temps_c {
            *t = (*t + rng.range(-0.05, 0.05) + self.current_a.abs() * dt * 0.0005)
                .clamp(-30.0, 80.0);
        }
        for &sensor in &self.dead_sensors {
            if let Some(t) = self.temps_c.get_mut(sensor - 1) {
                *t = OPEN_NTC_C;
            }
        }
    }

    /// Apply the cell and sensor faults; names a cell or sensor the pack does not have.
    pub fn apply_faults(&mut self, faults: &Faults) -> Result<(), String> {
        for &(cell, mv) in &faults.cell_offsets {
            let offset = self.offsets_mv.get_mut(cell - 1).ok_or_else(|| {
                format!(
                    "offset cell {cell} does not exist on a {}-cell pack",
                    self.cells_mv.len()
                )
            })?;
            *offset += mv;
        }
        for &sensor in &faults.dead_sensors {
            if sensor > self.temps_c.len() {
                return Err(format!(
                    "dead sensor {sensor} does not exist: the pack has {} sensors",
                    self.temps_c.len()
                ));
            }
        }
        self.dead_sensors = faults.dead_sensors.clone();
        Ok(())
    }

    pub fn pack_mv(&self) -> f64 {
        self.cells_mv.iter().sum()
    }

    pub fn cells_mv_u16(&self) -> Vec<u16> {
        self.cells_mv
            .iter()
            .map(|v| v.round().clamp(0.0, 65535.0) as u16)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_and_errors_name_the_fault() {
        let mut f = Faults::default();
        f.add("drop=0.2, corrupt=0.1,split").unwrap();
        f.add("delay=150").unwrap();
        f.add("sleep").unwrap();
        f.add("nostore=0x24+cell_ov_release,nopersist=0x10")
            .unwrap();
        f.add("disconnect=5:300").unwrap();
        f.add("overvoltage=3").unwrap();
        assert_eq!(f.drop, 0.2);
        assert_eq!(f.corrupt, 0.1);
        assert!(f.split);
        assert_eq!(f.delay, Duration::from_millis(150));
        assert_eq!(f.sleep_after, Some(Duration::from_millis(1000)));
        assert_eq!(f.nostore, vec!["0x24", "cell_ov_release"]);
        assert_eq!(f.nopersist, vec!["0x10"]);
        assert_eq!(
            (f.disconnect_after, f.disconnect_for),
            (Some(5), Duration::from_millis(300))
        );
        assert_eq!(f.overvoltage_cell, Some(3));
        assert!(Faults::default()
            .add("drop=2")
            .unwrap_err()
            .contains("probability"));
        assert!(Faults::default()
            .add("drop")
            .unwrap_err()
            .contains("needs a value"));
        assert!(Faults::default()
            .add("melt")
            .unwrap_err()
            .contains("unknown fault 'melt'"));
        assert!(Faults::default().add("overvoltage=0").is_err());
    }

    #[test]
    fn rng_is_deterministic_per_seed() {
        let a: Vec<u64> = (0..5)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..5)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        let mut r = Rng::new(1);
        assert!((0..1000).all(|_| (0.0..1.0).contains(&r.unit())));
        assert!(!r.chance(0.0));
    }

    #[test]
    fn wire_time_is_ten_bits_per_byte() {
        assert_eq!(wire_time(9600, 960), Duration::from_secs(1));
    }

    #[test]
    fn live_pack_follows_soc_and_fets() {
        let mut rng = Rng::new(3);
        let mut pack = LivePack::new(Chemistry::Lfp, 16, 4, 100.0, &mut rng);
        assert_eq!(pack.cells_mv.len(), 16);
        let lim = Chemistry::Lfp.hard_limits();
        for v in &pack.cells_mv {
            assert!(
                (f64::from(lim.min_cell_mv)..f64::from(lim.max_charge_mv)).contains(v),
                "{v}"
            );
        }
        for _ in 0..50 {
            pack.update(false, true, Some((2, 3700.0)), &mut rng);
            assert!(
                pack.current_a <= 0.0,
                "no charging with the charge FET open"
            );
        }
        assert_eq!(pack.cells_mv[2], 3700.0);
        assert!(LivePack::ocv_mv(Chemistry::Nmc, 1.0) > LivePack::ocv_mv(Chemistry::Nmc, 0.5));
        assert!(
            LivePack::ocv_mv(Chemistry::Nmc, 1.0)
                < f64::from(Chemistry::Nmc.hard_limits().max_charge_mv)
        );
    }

    #[test]
    fn relink_replaces_an_existing_link() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("bms");
        relink(&link, "/dev/null").unwrap();
        relink(&link, "/dev/zero").unwrap();
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            PathBuf::from("/dev/zero")
        );
    }

    #[test]
    fn cell_offsets_and_dead_sensors_show_in_the_live_values() {
        let mut f = Faults::default();
        f.add("offset=3:-400, offset=5:+120, deadntc=2").unwrap();
        assert_eq!(f.cell_offsets, vec![(3, -400.0), (5, 120.0)]);
        assert_eq!(f.dead_sensors, vec![2]);
        for bad in ["offset=3", "offset=0:5", "offset=x:5", "deadntc=0"] {
            let err = Faults::default().add(bad).unwrap_err();
            assert!(err.contains(bad.split('=').next().unwrap()), "{bad}: {err}");
        }
        let mut rng = Rng::new(7);
        let mut pack = LivePack::new(Chemistry::Lfp, 8, 3, 100.0, &mut rng);
        pack.apply_faults(&f).unwrap();
        pack.update(true, true, None, &mut rng);
        let others: Vec<f64> = [0, 1, 3, 5, 6, 7]
            .iter()
            .map(|&i| pack.cells_mv[i])
            .collect();
        let low = others.iter().cloned().fold(f64::MAX, f64::min);
        let high = others.iter().cloned().fold(f64::MIN, f64::max);
        assert!(pack.cells_mv[2] < low - 350.0, "{:?}", pack.cells_mv);
        assert!(pack.cells_mv[4] > high + 70.0, "{:?}", pack.cells_mv);
        assert_eq!(pack.temps_c[1], OPEN_NTC_C);
        assert!(pack.temps_c[0] > 20.0);
        let mut too_far = Faults::default();
        too_far.add("deadntc=4").unwrap();
        assert!(pack
            .apply_faults(&too_far)
            .unwrap_err()
            .contains("3 sensors"));
    }
}
