//! The `ClientPayload` a companion sends inside the Noise ClientFinish (§3 of the protocol notes):
//! registration data before pairing, username and device id after.

use super::creds::DeviceCreds;
use crate::protocol::crypto::md5;
use crate::protocol::proto::generated::client_payload::{
    user_agent, web_info, ConnectReason, ConnectType, DevicePairingRegistrationData, UserAgent,
    WebInfo,
};
use crate::protocol::proto::generated::{device_props, ClientPayload, DeviceProps};
use crate::protocol::proto::ProtoMessage;

/// The WhatsApp Web version we present (the one whatsmeow presents at the time of writing).
pub const WA_WEB_VERSION: [u32; 3] = [2, 3000, 1045649367];

/// The operating system name shown in the phone's list of linked devices.
pub const DEVICE_OS: &str = "Chattu";

fn version_string() -> String {
    let [a, b, c] = WA_WEB_VERSION;
    format!("{a}.{b}.{c}")
}

fn base_payload() -> ClientPayload {
    let [primary, secondary, tertiary] = WA_WEB_VERSION;
    ClientPayload {
        user_agent: Some(UserAgent {
            platform: Some(user_agent::Platform::Web as i32),
            app_version: Some(user_agent::AppVersion {
                primary: Some(primary),
                secondary: Some(secondary),
                tertiary: Some(tertiary),
                ..Default::default()
            }),
            mcc: Some("000".into()),
            mnc: Some("000".into()),
            os_version: Some("0.1".into()),
            device: Some("Desktop".into()),
            os_build_number: Some("0.1".into()),
            release_channel: Some(user_agent::ReleaseChannel::Release as i32),
            locale_language_iso6391: Some("en".into()),
            locale_country_iso31661_alpha2: Some("US".into()),
            ..Default::default()
        }),
        web_info: Some(WebInfo {
            web_sub_platform: Some(web_info::WebSubPlatform::WebBrowser as i32),
            ..Default::default()
        }),
        connect_type: Some(ConnectType::WifiUnknown as i32),
        connect_reason: Some(ConnectReason::UserActivated as i32),
        ..Default::default()
    }
}

/// The payload of an unpaired companion: its Signal keys and device properties, no username.
pub fn registration_payload(creds: &DeviceCreds, push_name: Option<&str>) -> Vec<u8> {
    let [primary, secondary, tertiary] = WA_WEB_VERSION;
    let props = DeviceProps {
        os: Some(DEVICE_OS.into()),
        version: Some(device_props::AppVersion {
            primary: Some(primary),
            secondary: Some(secondary),
            tertiary: Some(tertiary),
            ..Default::default()
        }),
        platform_type: Some(device_props::PlatformType::Chrome as i32),
        require_full_sync: Some(false),
        ..Default::default()
    };
    let spk = &creds.signed_prekey;
    let spk_id = spk.id.to_be_bytes();
    let mut payload = base_payload();
    payload.passive = Some(false);
    payload.pull = Some(false);
    payload.push_name = push_name.map(str::to_string);
    payload.device_pairing_data = Some(DevicePairingRegistrationData {
        e_regid: Some(creds.registration_id.to_be_bytes().to_vec()),
        e_keytype: Some(vec![5]),
        e_ident: Some(creds.identity_key.public.to_vec()),
        e_skey_id: Some(spk_id[1..].to_vec()),
        e_skey_val: Some(spk.key_pair.public.to_vec()),
        e_skey_sig: Some(spk.signature.to_vec()),
        build_hash: Some(md5(version_string().as_bytes()).to_vec()),
        device_props: Some(props.encode_to_vec()),
    });
    payload.encode_to_vec()
}

/// The payload of a paired companion logging in as `phone:device`.
pub fn login_payload(phone: u64, device: u16, push_name: Option<&str>) -> Vec<u8> {
    let mut payload = base_payload();
    payload.username = Some(phone);
    payload.device = Some(u32::from(device));
    payload.passive = Some(true);
    payload.pull = Some(true);
    payload.lid_db_migrated = Some(true);
    payload.push_name = push_name.map(str::to_string);
    payload.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_payload_carries_the_signal_keys() {
        let creds = DeviceCreds::generate();
        let bytes = registration_payload(&creds, Some("Shop"));
        let payload = ClientPayload::decode(bytes.as_slice()).unwrap();
        assert_eq!(payload.username, None);
        let data = payload.device_pairing_data.unwrap();
        assert_eq!(data.e_ident.unwrap(), creds.identity_key.public);
        assert_eq!(data.e_regid.unwrap(), creds.registration_id.to_be_bytes());
        assert_eq!(data.e_skey_id.unwrap(), [0, 0, 1]);
        assert_eq!(data.build_hash.unwrap().len(), 16);
        assert_eq!(payload.push_name.as_deref(), Some("Shop"));
    }

    #[test]
    fn login_payload_names_the_device() {
        let payload =
            ClientPayload::decode(login_payload(15550001111, 3, None).as_slice()).unwrap();
        assert_eq!(payload.username, Some(15550001111));
        assert_eq!(payload.device, Some(3));
        assert_eq!(payload.passive, Some(true));
        assert!(payload.device_pairing_data.is_none());
    }
}
