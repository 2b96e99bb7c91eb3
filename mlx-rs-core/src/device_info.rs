//! What MLX reports about a device (name, architecture, memory sizes).

use std::collections::BTreeMap;
use std::ffi::{c_char, CStr, CString};

use crate::ffi::{mlx_call, mlx_value};
use crate::handles::Owned;
use crate::io::VecStrings;
use crate::{Device, Error, Result};

/// One value of a [`DeviceInfo`] entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceInfoValue {
    /// Text, such as a device or architecture name.
    Text(String),
    /// A size or count, such as a memory size in bytes.
    Size(usize),
}

/// The properties MLX reports for a device, by key. Which keys exist depends
/// on the backend (a GPU reports e.g. `"device_name"`, `"architecture"` and
/// `"memory_size"`); [`DeviceInfo::entries`] lists them all.
///
/// ```
/// use mlx_rs_core::Device;
/// # fn main() -> mlx_rs_core::Result<()> {
/// let info = Device::cpu().info()?;
/// for (key, value) in info.entries() {
///     println!("{key}: {value:?}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    entries: BTreeMap<String, DeviceInfoValue>,
}

impl DeviceInfo {
    /// Every entry, sorted by key.
    pub fn entries(&self) -> &BTreeMap<String, DeviceInfoValue> {
        &self.entries
    }

    /// The entry `key`, if the device reports it.
    pub fn get(&self, key: &str) -> Option<&DeviceInfoValue> {
        self.entries.get(key)
    }

    /// The text entry `key` (`None` if absent or a number).
    pub fn text(&self, key: &str) -> Option<&str> {
        match self.entries.get(key)? {
            DeviceInfoValue::Text(t) => Some(t),
            DeviceInfoValue::Size(_) => None,
        }
    }

    /// The numeric entry `key` (`None` if absent or text).
    pub fn size(&self, key: &str) -> Option<usize> {
        match self.entries.get(key)? {
            DeviceInfoValue::Size(n) => Some(*n),
            DeviceInfoValue::Text(_) => None,
        }
    }
}

impl Device {
    /// What MLX reports about this device. A device MLX does not have (a GPU
    /// where there is no GPU backend) is an `Err`.
    ///
    /// ```
    /// use mlx_rs_core::{Device, DeviceInfoValue};
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// if Device::gpu().is_available() {
    ///     let info = Device::gpu().info()?;
    ///     assert!(matches!(info.get("device_name"), Some(DeviceInfoValue::Text(_))));
    /// }
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn info(&self) -> Result<DeviceInfo> {
        let raw = mlx_value!(mlx_device_info_new())?;
        // SAFETY: a fresh handle that only this guard owns.
        let mut info = unsafe { Owned::new(raw) };
        mlx_call!(mlx_device_info_get(info.as_mut_ptr(), self.as_raw()))?;
        let mut keys = VecStrings::new();
        mlx_call!(mlx_device_info_get_keys(keys.0.as_mut_ptr(), info.get()))?;
        let mut entries = BTreeMap::new();
        for key in keys.to_vec()? {
            let c_key = CString::new(key.as_str()).map_err(|_| {
                Error::invalid(format!("MLX returned a key with a NUL byte: {key:?}"))
            })?;
            let mut is_string = false;
            mlx_call!(mlx_device_info_is_string(
                &mut is_string,
                info.get(),
                c_key.as_ptr()
            ))?;
            let value = if is_string {
                let mut text: *const c_char = std::ptr::null();
                mlx_call!(mlx_device_info_get_string(
                    &mut text,
                    info.get(),
                    c_key.as_ptr()
                ))?;
                if text.is_null() {
                    return Err(Error::invalid(format!("MLX returned no text for {key:?}")));
                }
                // SAFETY: a NUL-terminated string owned by `info`, alive here.
                let text = unsafe { CStr::from_ptr(text) };
                DeviceInfoValue::Text(text.to_string_lossy().into_owned())
            } else {
                let mut n = 0usize;
                mlx_call!(mlx_device_info_get_size(&mut n, info.get(), c_key.as_ptr()))?;
                DeviceInfoValue::Size(n)
            };
            entries.insert(key, value);
        }
        Ok(DeviceInfo { entries })
    }
}
