//! Renders a pairing QR text as a PNG image (and as a `data:` URL for JSON APIs and the dashboard).

use qrcode::{Color, EcLevel, QrCode};
use std::fmt;

/// Pixels per QR module; 6 gives ~400 px for a pairing QR, readable on screens by phone cameras.
const MODULE_PIXELS: usize = 6;
/// Quiet zone around the code, in modules (the QR standard asks for 4).
const QUIET_MODULES: usize = 4;

/// Why a QR text could not be rendered.
#[derive(Debug)]
pub enum QrImageError {
    /// The text does not fit in any QR version.
    TooLong,
    /// PNG encoding failed.
    Png(String),
}

impl fmt::Display for QrImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QrImageError::TooLong => f.write_str("text too long for a QR code"),
            QrImageError::Png(e) => write!(f, "PNG encoding failed: {e}"),
        }
    }
}

impl std::error::Error for QrImageError {}

/// The QR code for `text` as an 8-bit greyscale PNG (black modules on white, with a quiet zone).
pub fn qr_png(text: &str) -> Result<Vec<u8>, QrImageError> {
    // Level L keeps the code small; pairing QRs are shown on screens, not printed.
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L)
        .map_err(|_| QrImageError::TooLong)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side_modules = modules + 2 * QUIET_MODULES;
    let side = side_modules * MODULE_PIXELS;
    let mut pixels = vec![0xffu8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let x0 = (index % modules + QUIET_MODULES) * MODULE_PIXELS;
        let y0 = (index / modules + QUIET_MODULES) * MODULE_PIXELS;
        for y in y0..y0 + MODULE_PIXELS {
            let row = y * side;
            for px in &mut pixels[row + x0..row + x0 + MODULE_PIXELS] {
                *px = 0;
            }
        }
    }
    let side_u32 = u32::try_from(side).map_err(|_| QrImageError::TooLong)?;
    let mut out = Vec::with_capacity(side * side / 8);
    {
        let mut encoder = png::Encoder::new(&mut out, side_u32, side_u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| QrImageError::Png(e.to_string()))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| QrImageError::Png(e.to_string()))?;
    }
    Ok(out)
}

/// `data:image/png;base64,…` for a PNG.
pub fn png_data_url(png: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

/// The QR code for `text` as a PNG `data:` URL.
pub fn qr_data_url(text: &str) -> Result<String, QrImageError> {
    Ok(png_data_url(&qr_png(text)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_decodable_png_of_the_right_size() {
        let text = "2@abc,8Y4pPtR8scjBZkHECkBsX1X6t8U8I8/guvBfC37u9nI=,DgAfwJBMD3VTzs2j39FspT/0Mo5SNynMh3KS1k2PBUU=,Eiy8UYGqKnekdvKhsjgIiocmYD6+oCfuQzI97Ral3kQ=";
        let png_bytes = qr_png(text).unwrap();
        let decoder = png::Decoder::new(png_bytes.as_slice());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let modules = QrCode::with_error_correction_level(text, EcLevel::L)
            .unwrap()
            .width();
        assert_eq!(info.width as usize, (modules + 8) * MODULE_PIXELS);
        // Top-left pixel is quiet zone (white); the finder pattern's corner is black.
        assert_eq!(buf[0], 0xff);
        let corner = QUIET_MODULES * MODULE_PIXELS;
        assert_eq!(buf[corner * info.width as usize + corner], 0);
        assert!(qr_data_url(text)
            .unwrap()
            .starts_with("data:image/png;base64,iVBOR"));
    }

    #[test]
    fn oversized_text_is_an_error() {
        assert!(matches!(
            qr_png(&"x".repeat(8000)),
            Err(QrImageError::TooLong)
        ));
    }
}
