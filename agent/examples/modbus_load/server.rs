//! The Modbus TCP server of the benchmark: one firmware-sim gateway, run in a child process
//! (`modbus_load serve`) so that its CPU is not the agent's.
//!
//! Behind it: [`LOAD_UNITS`] transmitters whose [`REGISTERS`] input registers report the
//! plant's signals (temperature, velocity RMS, load, speed, run hours of ten machines whose
//! load swings once a minute, so readings move and the rules have work), and
//! [`THROUGHPUT_UNITS`] whose registers are constants: the tight loops ask those, so that the
//! server spends nothing on physics and is as cheap as a tokio-modbus server can be.

use std::io::{Read, Write};

use anyhow::{Context, Result};
use firmware_sim::{Plant, Scenario, SimClock, Simulator};

/// Registers per request and per device, in every measurement.
pub const REGISTERS: u16 = 20;
/// Unit ids 1..=LOAD_UNITS serve the plant's signals.
pub const LOAD_UNITS: u8 = 100;
/// Unit ids from here serve constants, for the throughput loops.
pub const THROUGHPUT_UNIT_BASE: u8 = 201;
pub const THROUGHPUT_UNITS: u8 = 8;
const MACHINES: u8 = 10;

/// A register of a load unit: the simulator's signal, its type and scale (the agent decodes
/// with the same).
#[derive(Debug, Clone, Copy)]
pub struct LoadRegister {
    pub signal: &'static str,
    pub value_type: &'static str,
    pub scale: f64,
}

const SIGNALS: [LoadRegister; 5] = [
    LoadRegister {
        signal: "temperature",
        value_type: "i16",
        scale: 0.01,
    },
    LoadRegister {
        signal: "velocity_rms",
        value_type: "u16",
        scale: 0.001,
    },
    LoadRegister {
        signal: "load_pct",
        value_type: "u16",
        scale: 0.01,
    },
    LoadRegister {
        signal: "speed_rpm",
        value_type: "u16",
        scale: 0.1,
    },
    LoadRegister {
        signal: "run_hours",
        value_type: "u16",
        scale: 0.001,
    },
];

/// The register at `address` of every load unit.
pub fn load_register(address: u16) -> LoadRegister {
    SIGNALS[usize::from(address) % SIGNALS.len()]
}

/// The simulator's scenario: the gateway and its units.
pub fn scenario_toml() -> String {
    let mut s = String::from("[scenario]\nname = \"modbus-load\"\nseed = 7\nspeed = 1.0\n");
    for m in 0..MACHINES {
        let period_s = 50 + 5 * u32::from(m);
        s += &format!(
            "[[machines]]\nid = \"m{m}\"\nload = {{ base = 0.7, swing = 0.2, period = \"{period_s}s\" }}\n"
        );
    }
    s += "[[devices]]\nid = \"gateway\"\nkind = \"modbus_tcp\"\n";
    for unit in 1..=LOAD_UNITS {
        s += &format!(
            "[[devices.units]]\nunit_id = {unit}\nmachine = \"m{}\"\nregisters = [\n",
            unit % MACHINES
        );
        for address in 0..REGISTERS {
            let r = load_register(address);
            s += &format!(
                "  {{ table = \"input\", address = {address}, signal = \"{}\", type = \"{}\", scale = {} }},\n",
                r.signal, r.value_type, r.scale
            );
        }
        s += "]\n";
    }
    for unit in THROUGHPUT_UNIT_BASE..THROUGHPUT_UNIT_BASE + THROUGHPUT_UNITS {
        s += &format!("[[devices.units]]\nunit_id = {unit}\nmachine = \"m0\"\nregisters = [\n");
        for address in 0..REGISTERS {
            s += &format!(
                "  {{ table = \"input\", address = {address}, signal = \"constant\", value = {} }},\n",
                1000 + address
            );
        }
        s += "]\n";
    }
    s
}

/// `modbus_load serve`: prints `listening ADDR`, serves until stdin closes (the parent exits
/// or closes it), then stops the simulator.
pub fn serve() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let scenario = Scenario::from_toml_str(&scenario_toml()).context("the load scenario")?;
        let plant = Plant::from_scenario(scenario, None);
        let mut sim = Simulator::new(plant, SimClock::scaled(1.0));
        let addr = sim
            .start_modbus_tcp("gateway", "127.0.0.1:0".parse()?)
            .await?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening {addr}")?;
        stdout.flush()?;
        drop(stdout);
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            std::io::stdin().read_to_end(&mut sink)
        })
        .await??;
        sim.shutdown().await?;
        Ok(())
    })
}
