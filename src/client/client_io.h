// What the client's files (client.cc, client_requests.cc, client_wire.cc, client_tls.cc,
// client_ws.cc) share: how they await Asio operations, how much they read at once, and how an
// I/O failure or a server's refusal becomes an Error text. Private to src/client.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "client/client.h"

namespace moat::client::detail {

inline constexpr auto kUseAwaitable = boost::asio::as_tuple(boost::asio::use_awaitable);
inline constexpr size_t kReadChunk = 16 * 1024;

// A failure of the client's own (0x80 Unspecified error) with `message`.
inline Error failure(std::string message) {
  return Error{code(mqtt::ReasonCode::UnspecifiedError), std::move(message)};
}

inline Error ioError(std::string_view what, const boost::system::error_code& ec) {
  return failure(std::string(what) + ": " + ec.message());
}

// `text`, with the server's Reason String in parentheses when it sent one.
inline std::string withReasonString(std::string text, const mqtt::Properties& props) {
  if (props.reasonString && !props.reasonString->empty()) text += " (" + *props.reasonString + ")";
  return text;
}

}  // namespace moat::client::detail
