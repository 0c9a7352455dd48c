//! The frame socket: the sans-io frame codec and the WebSocket transports that carry it.

pub mod frame;

pub use frame::{client_intro, encode_frame, FrameDecoder, FrameError, MAX_FRAME_LEN, WA_HEADER};
