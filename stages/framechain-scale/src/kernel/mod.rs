//! The resampling kernels of `scale`, on plain byte slices: no frames, no
//! host, so tests and benchmarks run them natively.
//!
//! The resampler is separable with fixed-point weights ([`FilterBank`])
//! computed once per size pair and kept in a [`PlaneScaler`]; scaling a plane
//! is then a vertical pass and a horizontal pass per output row (see
//! [`passes`]).
//!
//! ```
//! use framechain_scale::kernel::{Method, PlaneShape, scale_plane};
//!
//! let source = vec![100u8; 8 * 4];
//! let mut destination = vec![0u8; 3 * 3];
//! scale_plane(
//!     Method::Bilinear,
//!     &source,
//!     PlaneShape::tight(8, 4),
//!     &mut destination,
//!     PlaneShape::tight(3, 3),
//! )
//! .unwrap();
//! assert!(destination.iter().all(|&s| s == 100));
//! ```

mod filter;
pub mod passes;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;

use std::fmt;

pub use filter::{FilterBank, WEIGHT_BITS};

/// How samples are resampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// A triangle filter: linear interpolation when enlarging, widened by the
    /// reduction factor when shrinking (like swscale's and Pillow's
    /// bilinear).
    Bilinear,
    /// A box filter: each output is the exact average of the area it covers.
    Area,
}

/// The layout of a plane in a byte buffer: `height` rows of `width` samples,
/// each row starting `stride` bytes after the previous one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaneShape {
    pub width: usize,
    pub height: usize,
    pub stride: usize,
}

impl PlaneShape {
    /// A plane without padding between rows.
    pub const fn tight(width: usize, height: usize) -> PlaneShape {
        PlaneShape {
            width,
            height,
            stride: width,
        }
    }

    /// Bytes a buffer needs to hold the plane (the last row needs no
    /// padding after it); saturates instead of overflowing, so an absurd
    /// shape is simply "too large" for any buffer.
    pub fn required_len(&self) -> usize {
        match self.height {
            0 => 0,
            rows => self
                .stride
                .saturating_mul(rows - 1)
                .saturating_add(self.width),
        }
    }

    fn check(&self, role: &'static str, buffer_len: usize) -> Result<(), KernelError> {
        if self.width == 0 || self.height == 0 {
            return Err(KernelError::EmptyPlane { role, shape: *self });
        }
        if self.stride < self.width {
            return Err(KernelError::StrideTooSmall { role, shape: *self });
        }
        if buffer_len < self.required_len() {
            return Err(KernelError::BufferTooSmall {
                role,
                shape: *self,
                buffer_len,
            });
        }
        Ok(())
    }
}

/// Why a kernel refused its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelError {
    EmptyPlane {
        role: &'static str,
        shape: PlaneShape,
    },
    StrideTooSmall {
        role: &'static str,
        shape: PlaneShape,
    },
    BufferTooSmall {
        role: &'static str,
        shape: PlaneShape,
        buffer_len: usize,
    },
    /// The plane does not have the size the scaler was prepared for.
    SizeMismatch {
        role: &'static str,
        expected: (usize, usize),
        got: (usize, usize),
    },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::EmptyPlane { role, shape } => {
                write!(
                    f,
                    "{role} plane is {}x{}; both sides must be at least 1",
                    shape.width, shape.height
                )
            }
            KernelError::StrideTooSmall { role, shape } => write!(
                f,
                "{role} plane stride {} is smaller than its width {}",
                shape.stride, shape.width
            ),
            KernelError::BufferTooSmall {
                role,
                shape,
                buffer_len,
            } => write!(
                f,
                "{role} buffer holds {buffer_len} bytes but a {}x{} plane with stride {} needs {}",
                shape.width,
                shape.height,
                shape.stride,
                shape.required_len()
            ),
            KernelError::SizeMismatch {
                role,
                expected,
                got,
            } => write!(
                f,
                "{role} plane is {}x{} but the scaler was prepared for {}x{}",
                got.0, got.1, expected.0, expected.1
            ),
        }
    }
}

impl std::error::Error for KernelError {}

/// Scales planes of one size to another size, with the weights computed
/// once. Keep one per size pair and reuse it for every frame.
#[derive(Clone, Debug)]
pub struct PlaneScaler {
    source: (usize, usize),
    destination: (usize, usize),
    horizontal: FilterBank,
    vertical: FilterBank,
    /// Scratch for the vertical pass, kept to avoid allocating per frame.
    accumulator: Vec<i32>,
    /// The vertical pass's output row: `source width` samples, plus room
    /// for the SIMD horizontal pass to read a whole window after the last
    /// start.
    intermediate: Vec<u16>,
    /// The horizontal bank laid out for the SIMD pass, when it fits.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    quads: Option<simd128::Quads>,
}

/// Samples after the source width in the intermediate row.
const ROW_SLACK: usize = 4;

impl PlaneScaler {
    /// Prepares scaling `source` (width, height) to `destination`.
    pub fn new(
        method: Method,
        source: (usize, usize),
        destination: (usize, usize),
    ) -> Result<PlaneScaler, KernelError> {
        PlaneShape::tight(source.0, source.1).check("source", usize::MAX)?;
        PlaneShape::tight(destination.0, destination.1).check("destination", usize::MAX)?;
        let horizontal = FilterBank::new(method, source.0, destination.0);
        let row_len = source.0 + ROW_SLACK;
        Ok(PlaneScaler {
            source,
            destination,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            quads: simd128::Quads::new(
                horizontal.starts(),
                horizontal.weights(),
                horizontal.taps(),
                row_len,
            ),
            horizontal,
            vertical: FilterBank::new(method, source.1, destination.1),
            accumulator: vec![0; source.0],
            intermediate: vec![0; row_len],
        })
    }

    pub fn source_size(&self) -> (usize, usize) {
        self.source
    }

    pub fn destination_size(&self) -> (usize, usize) {
        self.destination
    }

    /// Scales one plane. Samples of `destination` outside its shape (the
    /// padding between rows) are left as they are.
    pub fn scale(
        &mut self,
        source: &[u8],
        source_shape: PlaneShape,
        destination: &mut [u8],
        destination_shape: PlaneShape,
    ) -> Result<(), KernelError> {
        source_shape.check("source", source.len())?;
        destination_shape.check("destination", destination.len())?;
        expect_size("source", self.source, source_shape)?;
        expect_size("destination", self.destination, destination_shape)?;

        let (width, height) = self.destination;
        if self.source == self.destination {
            copy_rows(
                source,
                source_shape.stride,
                destination,
                destination_shape.stride,
                width,
                height,
            );
            return Ok(());
        }
        for y in 0..height {
            let row_start = y * destination_shape.stride;
            self.scale_row(
                source,
                source_shape.stride,
                y,
                &mut destination[row_start..row_start + width],
            );
        }
        Ok(())
    }
}

impl PlaneScaler {
    /// Output row `y`: the vertical pass over the source rows its window
    /// covers, then the horizontal pass into `out`.
    fn scale_row(&mut self, source: &[u8], stride: usize, y: usize, out: &mut [u8]) {
        let width = self.source.0;
        let (start, weights) = self.vertical.output(y);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            let row = &mut self.intermediate[..width];
            if !simd128::vertical(source, stride, start, weights, row) {
                passes::vertical(source, stride, start, weights, &mut self.accumulator, row);
            }
            if let Some(quads) = &self.quads {
                simd128::horizontal(&self.intermediate, quads, out);
                return;
            }
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        passes::vertical(
            source,
            stride,
            start,
            weights,
            &mut self.accumulator,
            &mut self.intermediate[..width],
        );
        passes::horizontal(
            &self.intermediate[..width],
            self.horizontal.starts(),
            self.horizontal.weights(),
            self.horizontal.taps(),
            out,
        );
    }
}

fn expect_size(
    role: &'static str,
    expected: (usize, usize),
    shape: PlaneShape,
) -> Result<(), KernelError> {
    let got = (shape.width, shape.height);
    if got == expected {
        Ok(())
    } else {
        Err(KernelError::SizeMismatch {
            role,
            expected,
            got,
        })
    }
}

fn copy_rows(
    source: &[u8],
    source_stride: usize,
    destination: &mut [u8],
    destination_stride: usize,
    width: usize,
    height: usize,
) {
    for y in 0..height {
        let from = &source[y * source_stride..y * source_stride + width];
        destination[y * destination_stride..y * destination_stride + width].copy_from_slice(from);
    }
}

/// Scales one plane in one call, computing the weights each time. Use a
/// [`PlaneScaler`] to scale many planes of the same sizes.
pub fn scale_plane(
    method: Method,
    source: &[u8],
    source_shape: PlaneShape,
    destination: &mut [u8],
    destination_shape: PlaneShape,
) -> Result<(), KernelError> {
    PlaneScaler::new(
        method,
        (source_shape.width, source_shape.height),
        (destination_shape.width, destination_shape.height),
    )?
    .scale(source, source_shape, destination, destination_shape)
}

/// Scales whole I420 frames held as three tight planes (Y, U, V), where the
/// chroma planes are `ceil(width / 2) x ceil(height / 2)`.
#[derive(Clone, Debug)]
pub struct I420Scaler {
    luma: PlaneScaler,
    chroma: PlaneScaler,
}

impl I420Scaler {
    pub fn new(
        method: Method,
        source: (usize, usize),
        destination: (usize, usize),
    ) -> Result<I420Scaler, KernelError> {
        Ok(I420Scaler {
            luma: PlaneScaler::new(method, source, destination)?,
            chroma: PlaneScaler::new(method, chroma_size(source), chroma_size(destination))?,
        })
    }

    /// Scales `source` planes into `destination` planes; each destination
    /// plane is given with its shape, so the picture can land inside a
    /// larger plane (letterboxing).
    pub fn scale(
        &mut self,
        source: [&[u8]; 3],
        destination: [(&mut [u8], PlaneShape); 3],
    ) -> Result<(), KernelError> {
        let luma_shape = PlaneShape::tight(self.luma.source.0, self.luma.source.1);
        let chroma_shape = PlaneShape::tight(self.chroma.source.0, self.chroma.source.1);
        let [y, u, v] = destination;
        self.luma.scale(source[0], luma_shape, y.0, y.1)?;
        self.chroma.scale(source[1], chroma_shape, u.0, u.1)?;
        self.chroma.scale(source[2], chroma_shape, v.0, v.1)
    }
}

/// Size of an I420 chroma plane for a luma plane of `size`.
pub fn chroma_size(size: (usize, usize)) -> (usize, usize) {
    (size.0.div_ceil(2), size.1.div_ceil(2))
}

#[cfg(test)]
mod tests;
