//! Window functions for spectral analysis (NumPy's `hanning`, `hamming`,
//! `blackman`, `bartlett`): symmetric float32 windows of `m` points.
//! `m <= 0` gives an empty array and `m == 1` the single value 1.

ops! {
    /// The Hann window: `0.5 - 0.5 cos(2πn / (m - 1))`.
    ///
    /// ```
    /// # use mlx_rs_core::ops;
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let w = ops::hanning(5)?.to_vec::<f32>()?;
    /// assert!(w.iter().zip([0.0, 0.5, 1.0, 0.5, 0.0]).all(|(a, b)| (a - b).abs() < 1e-6));
    /// # Ok(()) }
    /// ```
    fn hanning(m: i32) => mlx_hanning(m);
    /// The Hamming window: `0.54 - 0.46 cos(2πn / (m - 1))`.
    ///
    /// ```
    /// # use mlx_rs_core::ops;
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let w = ops::hamming(3)?.to_vec::<f32>()?;
    /// assert!(w.iter().zip([0.08, 1.0, 0.08]).all(|(a, b)| (a - b).abs() < 1e-6));
    /// # Ok(()) }
    /// ```
    fn hamming(m: i32) => mlx_hamming(m);
    /// The Blackman window:
    /// `0.42 - 0.5 cos(2πn / (m - 1)) + 0.08 cos(4πn / (m - 1))`.
    ///
    /// ```
    /// # use mlx_rs_core::ops;
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// let w = ops::blackman(3)?.to_vec::<f32>()?;
    /// assert!(w.iter().zip([0.0, 1.0, 0.0]).all(|(a, b)| (a - b).abs() < 1e-6));
    /// # Ok(()) }
    /// ```
    fn blackman(m: i32) => mlx_blackman(m);
    /// The Bartlett (triangular) window: `1 - |2n / (m - 1) - 1|`.
    ///
    /// ```
    /// # use mlx_rs_core::ops;
    /// # fn main() -> mlx_rs_core::Result<()> {
    /// assert_eq!(ops::bartlett(5)?.to_vec::<f32>()?, [0.0, 0.5, 1.0, 0.5, 0.0]);
    /// # Ok(()) }
    /// ```
    fn bartlett(m: i32) => mlx_bartlett(m);
}
