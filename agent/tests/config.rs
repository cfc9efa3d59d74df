//! The agent configuration: the documented example loads, and mistakes are reported at their
//! line and column with a message that says what would be right.

use edge_agent::config::{self, Parity, StreamFormat, Table, Transport, ValueType, WordOrder};

const EXAMPLE: &str = include_str!("../../deploy/agent.example.toml");

#[test]
fn the_documented_example_loads_with_the_values_it_documents() {
    let config = config::parse("agent.example.toml", EXAMPLE).expect("the example is valid");
    assert_eq!(config.gateway, "line1-gw01");
    assert_eq!(config.devices.len(), 3);
    let motor = &config.devices[0];
    assert_eq!(
        motor.transport,
        Transport::Tcp {
            address: "192.168.10.21:502".into()
        }
    );
    assert_eq!(motor.polls.len(), 2);
    assert_eq!(motor.polls[0].interval.as_millis(), 100);
    let winding = &motor.polls[1].registers[0];
    assert_eq!(
        (winding.table, winding.value_type, winding.scale),
        (Table::HoldingRegisters, ValueType::I16, 0.1)
    );
    assert_eq!(
        motor.polls[1].registers[1].value_type,
        ValueType::Bool,
        "bit tables default to bool"
    );
    let Transport::Rtu(line) = &config.devices[1].transport else {
        panic!("pump1 is rtu")
    };
    assert_eq!(
        (line.baud, line.parity, line.data_bits, line.stop_bits),
        (19200, Parity::Even, 8, 1)
    );
    assert_eq!(
        config.devices[1].polls[0].registers[0].order,
        WordOrder::Cdab
    );
    assert_eq!(
        config.streams[0].format,
        StreamFormat::AccelFrames { window: 1024 }
    );
    assert!(
        matches!(&config.streams[1].format, StreamFormat::TextLines { sensor, .. } if sensor == "gearbox.oil.temperature")
    );
    assert_eq!(config.http, edge_agent::http::HttpConfig::default());
    assert_eq!(config.http.listen.to_string(), "127.0.0.1:9180");
}

#[test]
fn an_http_listener_off_loopback_needs_a_token_file() {
    let base = "[agent]\ngateway = \"g\"\n";
    let open = format!("{base}[http]\nlisten = \"0.0.0.0:9180\"\n");
    let found = errors(&open);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("token_file"), "{found:?}");
    let guarded = format!("{open}token_file = \"/etc/edge-agent/http-token\"\n");
    let config = config::parse("t.toml", &guarded).expect("a token makes it valid");
    assert!(config.http.token_file.is_some());
    let typo = format!("{base}[http]\nport = 80\n");
    assert!(errors(&typo)[0].contains("port"), "{:?}", errors(&typo));
}

fn errors(text: &str) -> Vec<String> {
    match config::parse("agent.toml", text) {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics.iter().map(ToString::to_string).collect(),
    }
}

const DEVICE: &str = r#"[agent]
gateway = "gw"
[[device]]
id = "d"
transport = "rtu"
port = "/dev/ttyUSB0"
unit = 1
  [[device.poll]]
  interval = "1s"
    [[device.poll.register]]
    sensor = "s"
    table = "input"
    address = 0
"#;

#[test]
fn a_minimal_device_is_valid_and_gets_the_documented_defaults() {
    let config = config::parse("agent.toml", DEVICE).expect("valid");
    let device = &config.devices[0];
    assert_eq!(device.timeout.as_secs(), 1);
    assert!(device.merge_reads);
    let Transport::Rtu(line) = &device.transport else {
        panic!("rtu")
    };
    assert_eq!((line.baud, line.parity), (9600, Parity::Even));
    assert_eq!(device.polls[0].registers[0].value_type, ValueType::U16);
    assert_eq!(
        config.data_dir,
        std::path::PathBuf::from(config::DEFAULT_DATA_DIR)
    );
}

#[test]
fn unknown_keys_are_reported_where_they_are() {
    let text = DEVICE.replace("address = 0", "adress = 0");
    let errors = errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("agent.toml:13:5: unknown field `adress`"),
        "{errors:?}"
    );
}

#[test]
fn two_devices_on_one_bus_must_agree_on_the_line_and_use_distinct_units() {
    let second = DEVICE
        .split_once("[[device]]")
        .expect("device")
        .1
        .replace("sensor = \"s\"", "sensor = \"t\"");
    let same_unit = format!(
        "{DEVICE}[[device]]{}",
        second.replace("id = \"d\"", "id = \"e\"")
    );
    let errors_same_unit = errors(&same_unit);
    assert!(
        errors_same_unit
            .iter()
            .any(|e| e.contains("unit 1 on /dev/ttyUSB0 is already used")),
        "{errors_same_unit:?}"
    );

    let other_baud = format!(
        "{DEVICE}[[device]]{}",
        second
            .replace("id = \"d\"", "id = \"e\"")
            .replace("unit = 1", "unit = 2\nbaud = 19200")
    );
    let errors_baud = errors(&other_baud);
    assert!(
        errors_baud
            .iter()
            .any(|e| e.contains("other line settings")),
        "{errors_baud:?}"
    );
}

#[test]
fn values_that_cannot_fit_or_cannot_decode_are_refused() {
    let wide = DEVICE.replace("address = 0", "address = 65534\n    type = \"f64\"");
    assert!(
        errors(&wide).iter().any(|e| e.contains("does not fit")),
        "{:?}",
        errors(&wide)
    );
    let zero_scale = DEVICE.replace("address = 0", "address = 0\n    scale = 0.0");
    assert!(errors(&zero_scale)
        .iter()
        .any(|e| e.contains("scale must not be 0")));
    let bad_unit = DEVICE.replace("unit = 1", "unit = 248");
    assert!(errors(&bad_unit)
        .iter()
        .any(|e| e.contains("unit must be from 1 to 247")));
    let duplicate_sensor = DEVICE.replace(
        "    address = 0\n",
        "    address = 0\n    [[device.poll.register]]\n    sensor = \"s\"\n    table = \"input\"\n    address = 1\n",
    );
    assert!(errors(&duplicate_sensor)
        .iter()
        .any(|e| e.contains("sensor `s` is fed by two")));
}
