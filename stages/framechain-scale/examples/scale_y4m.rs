//! Scales a YUV4MPEG2 (`.y4m`, 4:2:0) file with the `scale` kernels,
//! natively, to compare them with other scalers:
//!
//! ```text
//! ffmpeg -f lavfi -i testsrc2=size=1920x1080:rate=30 -frames:v 10 -f yuv4mpegpipe in.y4m
//! cargo run --release -p framechain-scale --example scale_y4m -- in.y4m ours.y4m 1280 720 bilinear
//! ffmpeg -i in.y4m -vf scale=1280:720 -sws_flags bilinear -f yuv4mpegpipe ffmpeg.y4m
//! ffmpeg -i ours.y4m -i ffmpeg.y4m -lavfi psnr -f null -
//! ```

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use framechain_scale::kernel::{I420Scaler, Method, PlaneShape, chroma_size};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("scale_y4m: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, width, height, method] = args.as_slice() else {
        return Err("usage: scale_y4m IN.y4m OUT.y4m WIDTH HEIGHT bilinear|area".to_owned());
    };
    let number = |text: &str| {
        text.parse::<usize>()
            .map_err(|_| format!("not a size: {text}"))
    };
    let destination = (number(width)?, number(height)?);
    let method = match method.as_str() {
        "bilinear" => Method::Bilinear,
        "area" => Method::Area,
        other => return Err(format!("unknown method {other}; use bilinear or area")),
    };

    let file = std::fs::File::open(input).map_err(|e| format!("{input}: {e}"))?;
    let mut reader = BufReader::new(file);
    let mut header = String::new();
    reader.read_line(&mut header).map_err(|e| e.to_string())?;
    let source = header_size(&header)?;
    let mut scaler = I420Scaler::new(method, source, destination).map_err(|e| e.to_string())?;

    let out = std::fs::File::create(output).map_err(|e| format!("{output}: {e}"))?;
    let mut writer = BufWriter::new(out);
    let rewritten: Vec<String> = header
        .split_whitespace()
        .map(|field| match field.as_bytes()[0] {
            b'W' => format!("W{}", destination.0),
            b'H' => format!("H{}", destination.1),
            _ => field.to_owned(),
        })
        .collect();
    writeln!(writer, "{}", rewritten.join(" ")).map_err(|e| e.to_string())?;

    let (source_chroma, destination_chroma) = (chroma_size(source), chroma_size(destination));
    let mut planes = [
        vec![0u8; source.0 * source.1],
        vec![0u8; source_chroma.0 * source_chroma.1],
        vec![0u8; source_chroma.0 * source_chroma.1],
    ];
    let mut scaled = [
        vec![0u8; destination.0 * destination.1],
        vec![0u8; destination_chroma.0 * destination_chroma.1],
        vec![0u8; destination_chroma.0 * destination_chroma.1],
    ];
    let (mut frames, mut busy) = (0u32, Duration::ZERO);
    let mut frame_header = String::new();
    loop {
        frame_header.clear();
        if reader
            .read_line(&mut frame_header)
            .map_err(|e| e.to_string())?
            == 0
        {
            break;
        }
        for plane in &mut planes {
            reader
                .read_exact(plane)
                .map_err(|e| format!("truncated frame: {e}"))?;
        }
        let started = Instant::now();
        let [y, u, v] = &mut scaled;
        scaler
            .scale(
                [&planes[0], &planes[1], &planes[2]],
                [
                    (y, PlaneShape::tight(destination.0, destination.1)),
                    (
                        u,
                        PlaneShape::tight(destination_chroma.0, destination_chroma.1),
                    ),
                    (
                        v,
                        PlaneShape::tight(destination_chroma.0, destination_chroma.1),
                    ),
                ],
            )
            .map_err(|e| e.to_string())?;
        busy += started.elapsed();
        frames += 1;
        writer.write_all(b"FRAME\n").map_err(|e| e.to_string())?;
        for plane in &scaled {
            writer.write_all(plane).map_err(|e| e.to_string())?;
        }
    }
    writer.flush().map_err(|e| e.to_string())?;
    if frames > 0 {
        eprintln!(
            "scale_y4m: {frames} frames {}x{} -> {}x{}, {:.2} ms per frame",
            source.0,
            source.1,
            destination.0,
            destination.1,
            busy.as_secs_f64() * 1000.0 / f64::from(frames)
        );
    }
    Ok(())
}

fn header_size(header: &str) -> Result<(usize, usize), String> {
    if !header.starts_with("YUV4MPEG2 ") {
        return Err("not a YUV4MPEG2 file".to_owned());
    }
    let field = |tag: char| {
        header
            .split_whitespace()
            .find_map(|f| f.strip_prefix(tag))
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or_else(|| format!("header has no {tag} field"))
    };
    if let Some(colour) = header.split_whitespace().find_map(|f| f.strip_prefix('C'))
        && !colour.starts_with("420")
    {
        return Err(format!("only 4:2:0 input is supported, got C{colour}"));
    }
    Ok((field('W')?, field('H')?))
}
