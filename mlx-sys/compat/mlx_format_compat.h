// Force-included into every mlx-c translation unit.
//
// mlx-c 0.7.0 formats a few I/O error messages with `std::format`, which
// libstdc++ only ships from GCC 13 on. When the standard library lacks it,
// provide the tiny subset mlx-c uses: sequential `{}` placeholders.
#pragma once
#ifdef __cplusplus
#include <version>
#if !defined(__cpp_lib_format)
#include <sstream>
#include <string>
#include <string_view>

namespace std {
namespace mlx_rs_compat {
inline void format_rest(std::ostringstream& out, std::string_view fmt) {
  out << fmt;
}
template <class T, class... Rest>
void format_rest(std::ostringstream& out, std::string_view fmt, const T& value,
                 const Rest&... rest) {
  auto pos = fmt.find("{}");
  if (pos == std::string_view::npos) {
    out << fmt;
    return;
  }
  out << fmt.substr(0, pos) << value;
  format_rest(out, fmt.substr(pos + 2), rest...);
}
}  // namespace mlx_rs_compat

template <class... Args>
std::string format(std::string_view fmt, const Args&... args) {
  std::ostringstream out;
  mlx_rs_compat::format_rest(out, fmt, args...);
  return out.str();
}
}  // namespace std
#endif
#endif
