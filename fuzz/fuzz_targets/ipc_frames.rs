//! Bytes on the IPC socket: commands (what a worker reads), events and the
//! handshake (what the UI reads), split anywhere.
#![no_main]

use lanspread_proto::ipc::{HelloReply, IpcCommand, IpcEvent, WorkerHello};
use lanspread_proto::{FrameDecoder, Message, frame};
use libfuzzer_sys::fuzz_target;

fn frames<M: Message>(data: &[u8], cut: usize) -> Vec<M> {
    let mut decoder = FrameDecoder::<M>::new();
    let mut out = Vec::new();
    for piece in [&data[..cut], &data[cut..]] {
        decoder.push(piece);
        while let Ok(Some(message)) = decoder.next_frame() {
            out.push(message);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let cut = usize::from(first) % (rest.len() + 1);
    for command in frames::<IpcCommand>(rest, cut) {
        if let Some(id) = command.game_id() {
            let _ = lanspread_proto::game::is_valid_game_id(id);
        }
        // What decoded encodes again to the same frame.
        let bytes = frame::encode(&command).unwrap();
        assert_eq!(frame::decode_body::<IpcCommand>(&bytes[frame::LEN_PREFIX..]).unwrap(), command);
    }
    let _ = frames::<IpcEvent>(rest, cut);
    let _ = frames::<WorkerHello>(rest, cut);
    let _ = frames::<HelloReply>(rest, cut);
});
