//! Simulated Daly board(s): one or several boards on one RS485 line (board *n* answers host
//! address `0x3F + n` with reply address *n*; board 1 also answers the UART address 0x80),
//! the read IDs 0x90–0x98, 0x50, 0x53, 0x57, 0x62, 0x63, and the known writes: MOS on/off
//! (0xDA charge, 0xD9 discharge) and SOC (0x21). Unknown IDs get no reply, like the boards.
//!
//! Daly protection thresholds are not writable over the public protocol, so the simulated
//! board judges its cells against the chemistry's envelope: level 1 at the maximum charge
//! voltage, level 2 at the absolute maximum.

use packwright_protocol::daly::{self, CurrentSign, Frame};
use packwright_protocol::framing::StreamFramer;

use super::pty::{Board, Faults, LivePack, Rng};
use crate::chemistry::Chemistry;

#[derive(Debug, Clone)]
pub struct DalyConfig {
    pub cells: usize,
    pub sensors: usize,
    pub chemistry: Chemistry,
    pub capacity_ah: f64,
    /// Boards on the line, numbered from 1.
    pub boards: u8,
    /// How this firmware signs the current (the thing users find inverted).
    pub sign: CurrentSign,
    pub model: String,
    pub firmware: String,
    pub barcode: String,
}

impl DalyConfig {
    pub fn new(cells: usize, chemistry: Chemistry) -> DalyConfig {
        DalyConfig {
            cells,
            sensors: 2,
            chemistry,
            capacity_ah: 100.0,
            boards: 1,
            sign: CurrentSign::default(),
            model: "DL-BMS-SIM".to_string(),
            firmware: "SIM-1.0".to_string(),
            barcode: String::new(),
        }
    }
}

struct Unit {
    pack: LivePack,
    /// Software switch state: `false` = switched off by a 0xDA/0xD9 write.
    charge_enabled: bool,
    discharge_enabled: bool,
    failures: daly::Failures,
    cycles: u16,
    barcode: String,
}

pub struct DalyBoard {
    cfg: DalyConfig,
    units: Vec<Unit>,
    nostore: Vec<String>,
    overvoltage_cell: Option<usize>,
}

/// Settings a Daly `nostore` fault can name.
const WRITABLE: [&str; 3] = ["soc", "charge_mos", "discharge_mos"];

impl DalyBoard {
    pub fn new(cfg: DalyConfig, faults: &Faults, rng: &mut Rng) -> Result<DalyBoard, String> {
        if !(1..=48).contains(&cfg.cells) {
            return Err(format!("{} cells: a Daly board handles 1 to 48", cfg.cells));
        }
        if cfg.sensors > 21 {
            return Err(format!(
                "{} temperature sensors: a Daly board reports at most 21",
                cfg.sensors
            ));
        }
        if !(1..=63).contains(&cfg.boards) {
            return Err(format!(
                "{} boards: an RS485 line addresses 1 to 63",
                cfg.boards
            ));
        }
        if let Some(n) = faults
            .nostore
            .iter()
            .find(|n| !WRITABLE.contains(&n.as_str()))
        {
            return Err(format!(
                "nostore={n}: a Daly board writes only {}",
                WRITABLE.join(", ")
            ));
        }
        if !faults.nopersist.is_empty() {
            return Err("nopersist applies to JBD EEPROM registers, not to Daly".into());
        }
        if let Some(c) = faults.overvoltage_cell.filter(|c| *c > cfg.cells) {
            return Err(format!(
                "overvoltage cell {c} does not exist on a {}-cell board",
                cfg.cells
            ));
        }
        let mut units: Vec<Unit> = (1..=cfg.boards)
            .map(|n| Unit {
                pack: LivePack::new(cfg.chemistry, cfg.cells, cfg.sensors, cfg.capacity_ah, rng),
                charge_enabled: true,
                discharge_enabled: true,
                failures: daly::Failures::default(),
                cycles: 10 + u16::from(n),
                barcode: if cfg.barcode.is_empty() {
                    format!("SIMBOARD{n:02}")
                } else {
                    cfg.barcode.clone()
                },
            })
            .collect();
        for unit in &mut units {
            unit.pack.apply_faults(faults)?;
        }
        Ok(DalyBoard {
            nostore: faults.nostore.clone(),
            overvoltage_cell: faults.overvoltage_cell,
            units,
            cfg,
        })
    }

    /// Board index (0-based) a request address selects, if any board here answers it.
    fn unit_for(&self, address: u8) -> Option<usize> {
        let n = match address {
            daly::HOST_UART => 1,
            0x40..=0x7E => address - 0x3F,
            _ => return None,
        };
        (n <= self.cfg.boards).then(|| usize::from(n - 1))
    }

    fn refresh(&mut self, i: usize, rng: &mut Rng) {
        let lim = self.cfg.chemistry.hard_limits();
        let forced = self
            .overvoltage_cell
            .map(|c| (c - 1, f64::from(lim.max_charge_mv) + 50.0));
        let u = &mut self.units[i];
        let ov = u.failures.bits[0] & 0b11 != 0;
        let uv = u.failures.bits[0] & 0b1100 != 0;
        u.pack.update(
            u.charge_enabled && !ov,
            u.discharge_enabled && !uv,
            forced,
            rng,
        );
        let max = u.pack.cells_mv.iter().cloned().fold(f64::MIN, f64::max);
        let min = u.pack.cells_mv.iter().cloned().fold(f64::MAX, f64::min);
        let mut f = daly::Failures::default();
        let flags = [
            ("cell_overvoltage_l1", max >= f64::from(lim.max_charge_mv)),
            ("cell_overvoltage_l2", max >= f64::from(lim.max_cell_mv)),
            (
                "cell_undervoltage_l1",
                min <= f64::from(lim.min_cell_mv) + 200.0,
            ),
            ("cell_undervoltage_l2", min <= f64::from(lim.min_cell_mv)),
        ];
        for (name, on) in flags {
            if on {
                f.set(name);
            }
        }
        u.failures = f;
    }

    fn charge_on(u: &Unit) -> bool {
        u.charge_enabled && u.failures.bits[0] & 0b11 == 0
    }

    fn discharge_on(u: &Unit) -> bool {
        u.discharge_enabled && u.failures.bits[0] & 0b1100 == 0
    }

    /// Data of the reply frames for one request (empty: no reply).
    fn answer(&mut self, req: &Frame, i: usize, rng: &mut Rng) -> Vec<[u8; 8]> {
        use daly::id;
        if matches!(
            req.data_id,
            id::SOC
                | id::CELL_RANGE
                | id::MOS
                | id::STATUS
                | id::CELL_VOLTAGES
                | id::BALANCE
                | id::FAILURES
        ) {
            self.refresh(i, rng);
        }
        let cfg = &self.cfg;
        let store = |name: &str| !self.nostore.iter().any(|n| n == name);
        let (store_soc, store_chg, store_dsg) =
            (store("soc"), store("charge_mos"), store("discharge_mos"));
        let u = &mut self.units[i];
        let cells = u.pack.cells_mv_u16();
        let text_frames = |text: &str, frames: usize| -> Vec<[u8; 8]> {
            let mut bytes = text.as_bytes().to_vec();
            bytes.resize(7 * frames, b' ');
            daly::split_frames::<u8, 7>(&bytes)
                .iter()
                .map(|f| f.encode())
                .collect()
        };
        match req.data_id {
            id::SOC => vec![daly::Soc {
                total_dv: (u.pack.pack_mv() / 100.0).round() as u16,
                gather_dv: 0,
                current_raw: daly::Soc::raw_current(u.pack.current_a, cfg.sign),
                soc_permille: (u.pack.soc * 1000.0).round() as u16,
            }
            .encode()],
            id::CELL_RANGE => {
                let (imax, max) = cells
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, v)| **v)
                    .map_or((0, 0), |(i, v)| (i, *v));
                let (imin, min) = cells
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, v)| **v)
                    .map_or((0, 0), |(i, v)| (i, *v));
                vec![daly::CellRange {
                    max_mv: max,
                    max_cell: imax as u8 + 1,
                    min_mv: min,
                    min_cell: imin as u8 + 1,
                }
                .encode()]
            }
            id::TEMP_RANGE => {
                let t: Vec<i16> = u.pack.temps_c.iter().map(|c| c.round() as i16).collect();
                let (imax, max) = t
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, v)| **v)
                    .map_or((0, 0), |(i, v)| (i, *v));
                let (imin, min) = t
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, v)| **v)
                    .map_or((0, 0), |(i, v)| (i, *v));
                vec![daly::TempRange {
                    max_c: max,
                    max_sensor: imax as u8 + 1,
                    min_c: min,
                    min_sensor: imin as u8 + 1,
                }
                .encode()]
            }
            id::MOS => {
                let state = if u.pack.current_a > 0.05 {
                    daly::ChargeState::Charging
                } else if u.pack.current_a < -0.05 {
                    daly::ChargeState::Discharging
                } else {
                    daly::ChargeState::Stationary
                };
                vec![daly::MosStatus {
                    state,
                    charge_mos: Self::charge_on(u),
                    discharge_mos: Self::discharge_on(u),
                    bms_life: (u.cycles % 256) as u8,
                    remaining_mah: (u.pack.soc * cfg.capacity_ah * 1000.0).round() as u32,
                }
                .encode()]
            }
            id::STATUS => vec![daly::Status {
                cell_count: cfg.cells as u8,
                temp_sensor_count: cfg.sensors as u8,
                charger: u.pack.current_a > 0.05,
                load: u.pack.current_a < -0.05,
                dio: 0,
                cycles: u.cycles,
            }
            .encode()],
            id::CELL_VOLTAGES => daly::split_frames::<u16, 3>(&cells)
                .iter()
                .map(|f| {
                    let mut d = f.encode();
                    // Real boards send garbage in the reserved byte.
                    d[7] = rng.next_u64() as u8;
                    d
                })
                .collect(),
            id::TEMPERATURES => {
                let raw: Vec<u8> = u
                    .pack
                    .temps_c
                    .iter()
                    .map(|c| daly::temp_byte(c.round() as i16))
                    .collect();
                daly::split_frames::<u8, 7>(&raw)
                    .iter()
                    .map(|f| f.encode())
                    .collect()
            }
            id::BALANCE => {
                let min = cells.iter().copied().min().unwrap_or(0);
                let balancing: Vec<usize> = cells
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| u.pack.current_a > 0.0 && **v > min + 10)
                    .map(|(i, _)| i + 1)
                    .collect();
                vec![daly::encode_balance(&balancing)]
            }
            id::FAILURES => vec![u.failures.encode()],
            id::RATED => vec![daly::Rated {
                capacity_mah: (cfg.capacity_ah * 1000.0).round() as u32,
                cell_mv: cfg.chemistry.hard_limits().nominal_mv,
            }
            .encode()],
            id::BATTERY_INFO => vec![daly::encode_production_date(2024, 3, 8)],
            id::BATTERY_CODE => text_frames(&u.barcode, 5),
            id::VERSION_62 => text_frames(&cfg.firmware, 2),
            id::VERSION_63 => text_frames(&cfg.model, 2),
            id::SET_SOC => {
                if store_soc {
                    u.pack.soc = daly::soc_of_set_request(&req.data) / 100.0;
                }
                vec![[1, 0, 0, 0, 0, 0, 0, 0]]
            }
            id::CHARGE_MOS | id::DISCHARGE_MOS => {
                let on = req.data[0] == 1;
                if req.data_id == id::CHARGE_MOS && store_chg {
                    u.charge_enabled = on;
                } else if req.data_id == id::DISCHARGE_MOS && store_dsg {
                    u.discharge_enabled = on;
                }
                vec![[req.data[0], 0, 0, 0, 0, 0, 0, 0]]
            }
            _ => Vec::new(),
        }
    }
}

impl Board for DalyBoard {
    type Framer = StreamFramer<daly::DalyFormat>;

    fn request_framer(&self) -> StreamFramer<daly::DalyFormat> {
        daly::framer()
    }

    fn handle(&mut self, request: &[u8], rng: &mut Rng) -> Vec<Vec<u8>> {
        let Ok(req) = Frame::decode(request) else {
            return Vec::new();
        };
        let Some(i) = self.unit_for(req.address) else {
            return Vec::new();
        };
        let address = daly::reply_address(req.address);
        self.answer(&req, i, rng)
            .into_iter()
            .map(|data| {
                Frame {
                    address,
                    data_id: req.data_id,
                    data,
                }
                .encode()
                .to_vec()
            })
            .collect()
    }

    fn checksum_range(len: usize) -> std::ops::Range<usize> {
        len.saturating_sub(1)..len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(cfg: DalyConfig, faults: &str) -> (DalyBoard, Rng) {
        let mut f = Faults::default();
        f.add(faults).unwrap();
        let mut rng = Rng::new(5);
        (DalyBoard::new(cfg, &f, &mut rng).unwrap(), rng)
    }

    fn ask(b: &mut DalyBoard, rng: &mut Rng, req: Frame) -> Vec<Frame> {
        b.handle(&req.encode(), rng)
            .iter()
            .map(|f| Frame::decode(f).unwrap())
            .collect()
    }

    #[test]
    fn boards_on_one_line_answer_their_own_address() {
        let mut cfg = DalyConfig::new(8, Chemistry::Lfp);
        cfg.boards = 2;
        let (mut b, mut rng) = board(cfg, "");
        let r1 = ask(&mut b, &mut rng, Frame::request(0x40, daly::id::STATUS));
        let r2 = ask(&mut b, &mut rng, Frame::request(0x41, daly::id::STATUS));
        assert_eq!((r1[0].address, r2[0].address), (1, 2));
        assert!(ask(&mut b, &mut rng, Frame::request(0x42, daly::id::STATUS)).is_empty());
        assert_eq!(
            ask(
                &mut b,
                &mut rng,
                Frame::request(daly::HOST_UART, daly::id::STATUS)
            )[0]
            .address,
            1
        );
        assert!(
            ask(&mut b, &mut rng, Frame::request(0x40, 0x77)).is_empty(),
            "unknown ids get no reply"
        );
    }

    #[test]
    fn multi_frame_replies_cover_every_cell() {
        let (mut b, mut rng) = board(DalyConfig::new(16, Chemistry::Lfp), "");
        let frames = ask(
            &mut b,
            &mut rng,
            Frame::request(0x40, daly::id::CELL_VOLTAGES),
        );
        assert_eq!(frames.len(), 6);
        let mut a = daly::Assembler::<u16, 3>::new(daly::id::CELL_VOLTAGES, 16);
        for f in &frames {
            a.insert(daly::CellFrame::decode(&f.data)).unwrap();
        }
        let cells = a.values(16).unwrap();
        assert!(
            cells.iter().all(|&mv| (3000..3500).contains(&mv)),
            "{cells:?}"
        );
    }

    #[test]
    fn writes_are_stored_unless_the_fault_says_otherwise() {
        let (mut b, mut rng) = board(DalyConfig::new(4, Chemistry::Lfp), "nostore=soc");
        let req = daly::mos_request(0x40, true, false);
        let reply = ask(&mut b, &mut rng, req);
        assert!(daly::write_acknowledged(&req, &reply[0]));
        let mos = daly::MosStatus::decode(
            &ask(&mut b, &mut rng, Frame::request(0x40, daly::id::MOS))[0].data,
        );
        assert!(!mos.charge_mos);
        let set = daly::set_soc_request(0x40, 12.5, None).unwrap();
        assert!(daly::write_acknowledged(
            &set,
            &ask(&mut b, &mut rng, set)[0]
        ));
        let soc =
            daly::Soc::decode(&ask(&mut b, &mut rng, Frame::request(0x40, daly::id::SOC))[0].data);
        assert!(
            (soc.soc_pct() - 12.5).abs() > 1.0,
            "nostore=soc: acknowledged, not stored"
        );
    }

    #[test]
    fn inverted_firmware_sign_is_consistent_with_the_state_byte() {
        let mut cfg = DalyConfig::new(4, Chemistry::Lfp);
        cfg.sign = CurrentSign::AboveOffsetCharges;
        let (mut b, mut rng) = board(cfg, "");
        for _ in 0..20 {
            let soc = daly::Soc::decode(
                &ask(&mut b, &mut rng, Frame::request(0x40, daly::id::SOC))[0].data,
            );
            let mos = daly::MosStatus::decode(
                &ask(&mut b, &mut rng, Frame::request(0x40, daly::id::MOS))[0].data,
            );
            if let Some(sign) = CurrentSign::infer(&soc, mos.state) {
                assert_eq!(sign, CurrentSign::AboveOffsetCharges);
            }
        }
    }

    #[test]
    fn bad_fault_settings_are_refused() {
        let mut f = Faults::default();
        f.add("nostore=cell_ov_trigger").unwrap();
        let err = DalyBoard::new(DalyConfig::new(4, Chemistry::Lfp), &f, &mut Rng::new(1))
            .err()
            .unwrap();
        assert!(err.contains("soc, charge_mos, discharge_mos"), "{err}");
    }
}
