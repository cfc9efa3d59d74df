//! Property tests of the serial decoders, without I/O: no byte sequence panics them, the
//! split of the bytes into reads changes nothing, and the agent's decoder and firmware-sim's
//! agree frame by frame, also on the simulator's garbled and CRC-damaged streams.

mod serial_common;

use std::path::Path;

use edge_agent::config::StreamFormat;
use edge_agent::event::{Event, EventBody};
use edge_agent::sources::serial::features::AxisSums;
use edge_agent::sources::serial::text::{LineSplitter, LineTemplate};
use edge_agent::sources::serial::{AccelFrame, Deframer, StreamDecoder};
use firmware_sim::protocol::accel_frame::{AccelFrame as SimFrame, FrameDecoder as SimDecoder};
use firmware_sim::protocol::text_line::{format_line, parse_line};
use firmware_sim::{accel_frame_bytes, text_line_bytes, Plant};
use proptest::prelude::*;
use proptest::sample::Index;
use serial_common::{same_features, scenario, stream, two_pass};

fn same_frame(a: &AccelFrame, b: &SimFrame) -> bool {
    (
        a.version,
        a.seq,
        a.first_sample,
        a.sample_rate_hz,
        a.lsb_ug,
        a.flags,
    ) == (
        b.version,
        b.seq,
        b.first_sample,
        b.sample_rate_hz,
        b.lsb_ug,
        b.flags,
    ) && a.samples == b.samples
}

/// `bytes` cut at the given points, in order.
fn pieces<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for to in at.into_iter().chain([bytes.len()]) {
        out.push(&bytes[from..to]);
        from = to;
    }
    out
}

/// Bytes that look like a serial line: runs of noise, zeros, newlines and real frames.
fn line_noise() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..64),
        1 => Just(vec![0u8]),
        1 => Just(b"\r\n".to_vec()),
        2 => sim_frame().prop_map(|f| f.encode()),
        1 => Just(b"T=12.5C\r\n".to_vec()),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

fn sim_frame() -> impl Strategy<Value = SimFrame> {
    (
        any::<u32>(),
        any::<u64>(),
        1u32..100_000,
        1u32..10_000,
        any::<u8>(),
        prop::collection::vec(any::<[i16; 3]>(), 0..80),
    )
        .prop_map(|(seq, first, rate, lsb, flags, samples)| {
            let mut frame = SimFrame::new(seq, first, rate, lsb, samples);
            frame.flags = flags;
            frame
        })
}

fn decoder(format: StreamFormat) -> StreamDecoder {
    StreamDecoder::new(&stream("s", Path::new("/dev/null"), format)).expect("valid stream")
}

fn accel16() -> StreamFormat {
    StreamFormat::AccelFrames { window: 16 }
}

fn lines() -> StreamFormat {
    StreamFormat::TextLines {
        pattern: "T={value}C".into(),
        sensor: "t".into(),
        unit: None,
    }
}

/// Events and final counts of a fresh decoder fed `chunks` at one fixed time.
fn decode_all(format: StreamFormat, chunks: &[&[u8]]) -> (Vec<Event>, String) {
    let mut d = decoder(format);
    let mut out = Vec::new();
    for chunk in chunks {
        d.push(chunk, 1_000, &mut out);
    }
    (out, format!("{:?}", d.counters().snapshot()))
}

/// Window contents that are hard for one-pass statistics.
fn window_samples() -> impl Strategy<Value = Vec<i16>> {
    prop_oneof![
        prop::collection::vec(any::<i16>(), 1..600),
        // A large offset with a small spread: where raw power sums lose their digits.
        (any::<i16>(), prop::collection::vec(-3i16..=3, 1..600))
            .prop_map(|(offset, v)| v.into_iter().map(|x| offset.saturating_add(x)).collect()),
        // One spike in quiet data: a huge kurtosis.
        (
            prop::collection::vec(-2i16..=2, 1..600),
            any::<i16>(),
            any::<Index>()
        )
            .prop_map(|(mut v, spike, at)| {
                let i = at.index(v.len());
                v[i] = spike;
                v
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn one_pass_window_statistics_equal_a_two_pass_computation(
        xs in window_samples(),
        lsb_ug in 1u32..5000,
    ) {
        let mut sums = AxisSums::default();
        xs.iter().for_each(|&x| sums.push(x));
        let features = sums.moments().expect("not empty").features(lsb_ug);
        let got: Vec<(String, f64)> =
            features.values().map(|(name, v)| (name.to_string(), v)).collect();
        let want = two_pass(&xs, lsb_ug);
        prop_assert!(same_features(&got, &want), "{:?} != {:?}", got, want);
    }

    #[test]
    fn no_bytes_panic_the_deframer_and_the_split_changes_nothing(
        bytes in line_noise(),
        cuts in prop::collection::vec(any::<Index>(), 0..10),
    ) {
        let whole = Deframer::default().push_collect(&bytes);
        let mut deframer = Deframer::default();
        let split: Vec<_> = pieces(&bytes, &cuts)
            .into_iter()
            .flat_map(|p| deframer.push_collect(p))
            .collect();
        prop_assert_eq!(&whole, &split);
        // The simulator's decoder cuts the same chunks and accepts the same frames.
        let theirs = SimDecoder::default().push(&bytes);
        prop_assert_eq!(whole.len(), theirs.len());
        for (ours, theirs) in whole.iter().zip(&theirs) {
            match (ours, theirs) {
                (Ok(a), Ok(b)) => prop_assert!(same_frame(a, b)),
                (Err(_), Err(_)) => {}
                // The agent also refuses a zero rate or scale, which the generator avoids.
                (a, b) => prop_assert!(false, "agent {:?}, simulator {:?}", a, b),
            }
        }
    }

    #[test]
    fn frames_cut_at_any_bytes_decode_to_the_frames_sent(
        frames in prop::collection::vec(sim_frame(), 1..6),
        tail_of_earlier in prop::collection::vec(1u8..=255, 0..40),
        cuts in prop::collection::vec(any::<Index>(), 0..16),
    ) {
        // A reader that opens mid-stream first sees the tail of a frame and its delimiter.
        let mut wire = tail_of_earlier.clone();
        wire.push(0);
        for frame in &frames {
            wire.extend(frame.encode());
        }
        let mut deframer = Deframer::default();
        let mut got = Vec::new();
        for piece in pieces(&wire, &cuts) {
            deframer.push(piece, |r| got.push(r));
        }
        let decoded: Vec<_> = got.iter().filter_map(|r| r.as_ref().ok()).collect();
        prop_assert_eq!(decoded.len(), frames.len());
        for (a, b) in decoded.iter().zip(&frames) {
            prop_assert!(same_frame(a, b));
        }
        prop_assert!(got.len() <= frames.len() + 1);
    }

    #[test]
    fn no_bytes_panic_a_stream_decoder_and_the_split_changes_no_event(
        bytes in line_noise(),
        cuts in prop::collection::vec(any::<Index>(), 0..10),
    ) {
        for format in [accel16(), lines()] {
            let whole = decode_all(format.clone(), &[&bytes]);
            let split = decode_all(format, &pieces(&bytes, &cuts));
            prop_assert_eq!(whole, split);
        }
    }

    #[test]
    fn no_bytes_panic_the_line_splitter_and_the_split_changes_nothing(
        bytes in prop::collection::vec(any::<u8>(), 0..1024),
        cuts in prop::collection::vec(any::<Index>(), 0..10),
    ) {
        let template = LineTemplate::parse("T={value}C").expect("pattern");
        let run = |chunks: &[&[u8]]| {
            let mut splitter = LineSplitter::new(64);
            let mut out = Vec::new();
            for chunk in chunks {
                splitter.push(chunk, |line| out.push(line.and_then(|l| template.value(l))));
            }
            out
        };
        prop_assert_eq!(run(&[&bytes]), run(&pieces(&bytes, &cuts)));
    }

    #[test]
    fn every_line_the_simulator_formats_reads_back_as_its_value(
        values in prop::collection::vec(-1.0e4..1.0e4f64, 1..20),
        decimals in 0u8..5,
        checksum in any::<bool>(),
        cuts in prop::collection::vec(any::<Index>(), 0..10),
    ) {
        let text: String = values
            .iter()
            .map(|&v| format_line("T=", v, decimals, "C", checksum))
            .collect();
        let (events, _) = decode_all(lines(), &pieces(text.as_bytes(), &cuts));
        let got: Vec<f64> = events.iter().filter_map(reading_value).collect();
        let want: Vec<f64> = text
            .lines()
            .map(|l| parse_line(l, "T=", "C").expect("the simulator parses its own line"))
            .collect();
        prop_assert_eq!(got, want);
    }
}

fn reading_value(event: &Event) -> Option<f64> {
    match &event.body {
        EventBody::Reading(r) => Some(r.value),
        _ => None,
    }
}

/// Frames `ks` of device `device` of a shipped scenario at `speed`, concatenated.
fn stream_bytes(file: &str, device: &str, ks: std::ops::Range<u64>, speed: f64) -> Vec<u8> {
    let plant = Plant::from_scenario(scenario(file), None);
    ks.filter_map(|k| accel_frame_bytes(&plant, device, k, speed))
        .flatten()
        .collect()
}

/// The agent's and the simulator's decoders over the same stream: frame for frame the same
/// outcome; returns the number of dropped frames.
fn both_decoders_agree(bytes: &[u8]) -> usize {
    let mut ours = Vec::new();
    let mut deframer = Deframer::default();
    for chunk in bytes.chunks(61) {
        deframer.push(chunk, |r| ours.push(r));
    }
    let theirs = SimDecoder::default().push(bytes);
    assert_eq!(ours.len(), theirs.len());
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        match (a, b) {
            (Ok(a), Ok(b)) => assert!(same_frame(a, b), "chunk {i}"),
            (Err(a), Err(b)) => assert_eq!(
                a.kind() == "crc",
                matches!(
                    b,
                    firmware_sim::protocol::accel_frame::FrameError::Crc { .. }
                ),
                "chunk {i}: agent {a}, simulator {b}"
            ),
            (a, b) => panic!("chunk {i}: agent {a:?}, simulator {b:?}"),
        }
    }
    ours.iter().filter(|r| r.is_err()).count()
}

#[test]
fn both_decoders_agree_on_every_frame_of_the_simulators_garbled_stream() {
    // At 60x, frame k is plant time 0.6·k s: frames 500..1100 lie in the 5m–35m fault.
    let bytes = stream_bytes("serial_garbled.toml", "accel-1", 500..1100, 60.0);
    let dropped = both_decoders_agree(&bytes);
    assert!(dropped > 60, "only {dropped} of 600 frames garbled");
}

#[test]
fn both_decoders_agree_on_every_frame_of_the_simulators_crc_damaged_stream() {
    let bytes = stream_bytes("serial_crc_errors.toml", "accel-1", 500..1100, 60.0);
    let dropped = both_decoders_agree(&bytes);
    assert!(dropped > 60, "only {dropped} of 600 frames damaged");
}

#[test]
fn windows_that_straddle_frames_equal_a_two_pass_computation() {
    // 100-sample windows over 32-sample frames: most windows begin and end inside a frame.
    let plant = Plant::from_scenario(scenario("demo.toml"), None);
    let frames: Vec<SimFrame> = (0..400)
        .map(|k| {
            let bytes = accel_frame_bytes(&plant, "accel-motor", k, 30.0).expect("frame");
            SimFrame::decode(&bytes).expect("clean frame")
        })
        .collect();
    let samples: Vec<[i16; 3]> = frames.iter().flat_map(|f| f.samples.clone()).collect();
    let mut d = decoder(StreamFormat::AccelFrames { window: 100 });
    let mut events = Vec::new();
    for (k, frame) in frames.iter().enumerate() {
        d.push(&frame.encode(), 1_000 + k as i64 * 10, &mut events);
    }
    let sets: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Features(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(sets.len(), 3 * (400 * 32 / 100));
    for (n, set) in sets.iter().enumerate() {
        let (i, axis) = (n / 3, n % 3);
        let counts: Vec<i16> = samples[i * 100..(i + 1) * 100]
            .iter()
            .map(|s| s[axis])
            .collect();
        let expected = two_pass(&counts, 1000);
        assert!(
            same_features(&set.values, &expected),
            "window {i} axis {axis}"
        );
    }
    let c = d.counters().snapshot();
    assert_eq!(
        (c.frames_ok, c.frames_lost, c.windows_incomplete),
        (400, 0, 0)
    );
}

#[test]
fn the_text_decoder_keeps_exactly_the_lines_the_simulator_would_keep() {
    // At 1x the probe's line k is plant second k: lines 300..900 lie in the 5m–35m fault.
    let plant = Plant::from_scenario(scenario("serial_crc_errors.toml"), None);
    let printed: Vec<Vec<u8>> = (300..900)
        .filter_map(|k| text_line_bytes(&plant, "temp-1", k, 1.0))
        .collect();
    let kept: Vec<f64> = printed
        .iter()
        .filter_map(|l| parse_line(std::str::from_utf8(l).ok()?, "T=", "C"))
        .collect();
    let bytes = printed.concat();
    let (events, _) = decode_all(lines(), &bytes.chunks(7).collect::<Vec<_>>());
    let got: Vec<f64> = events.iter().filter_map(reading_value).collect();
    assert_eq!(got, kept);
    assert!(
        kept.len() < 560,
        "{} of 600 lines kept: no damage",
        kept.len()
    );
}
