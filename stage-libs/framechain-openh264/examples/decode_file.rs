//! Native debugging aid: decodes an Annex-B file to raw I420 (all pictures,
//! display order, cropped) and reports the speed.
//!
//! `cargo run --release -p framechain-openh264 --example decode_file -- IN.264 [OUT.yuv]`

use std::io::Write;
use std::time::Instant;

use framechain_openh264::{Decoder, DecoderOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let data = std::fs::read(&args[1]).expect("read input");
    let mut out = args
        .get(2)
        .map(|p| std::io::BufWriter::new(std::fs::File::create(p).expect("create output")));
    let mut dec = Decoder::new(&DecoderOptions::default()).unwrap();
    let start = Instant::now();
    let mut frames = 0;
    let mut write = |p: framechain_openh264::I420| {
        frames += 1;
        if let Some(o) = out.as_mut() {
            o.write_all(&p.y).unwrap();
            o.write_all(&p.u).unwrap();
            o.write_all(&p.v).unwrap();
        }
    };
    let nals = split(&data);
    for (i, nal) in nals.iter().enumerate() {
        if let Some(p) = dec.decode_nal(nal, i as u64 + 1).picture {
            write(p.to_i420());
        }
    }
    for _ in 0..dec.end_of_stream() {
        if let Some(p) = dec.flush_one() {
            write(p.to_i420());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{frames} frames in {secs:.2} s: {:.1} fps",
        frames as f64 / secs
    );
}

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(if i > 0 && data[i - 1] == 0 { i - 1 } else { i });
            i += 3;
        } else {
            i += 1;
        }
    }
    (0..starts.len())
        .map(|k| &data[starts[k]..*starts.get(k + 1).unwrap_or(&data.len())])
        .collect()
}
