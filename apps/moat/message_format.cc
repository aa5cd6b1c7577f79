#include "apps/moat/message_format.h"

#include <cstdio>
#include <ctime>
#include <string>

namespace moat::app {

namespace {

constexpr std::string_view kPercentCodes = "%tpxXlqrmciIUjACDEFPRS";
constexpr std::string_view kEscapes = "ntrae0\\";

void appendHex(std::string_view data, bool upper, std::string& out) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  for (unsigned char c : data) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
}

std::tm localTime(std::chrono::system_clock::time_point now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

std::string strftimeOf(const char* fmt, const std::tm& tm) {
  char buf[128];
  size_t n = std::strftime(buf, sizeof buf, fmt, &tm);
  return std::string(buf, n);
}

void appendJsonString(std::string_view s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace

Result<void> validateFormat(std::string_view format) {
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c != '%' && c != '\\') continue;
    if (i + 1 >= format.size()) {
      return fail(0x80, std::string("Incomplete format specifier at the end of the format."));
    }
    char code = format[++i];
    std::string_view allowed = c == '%' ? kPercentCodes : kEscapes;
    if (allowed.find(code) == std::string_view::npos) {
      return fail(0x80, std::string(c == '%' ? "Invalid format specifier '"
                                             : "Invalid escape "
                                               "specifier '") +
                            code + "'.");
    }
  }
  return {};
}

std::string formatMessage(std::string_view format, const mqtt::Publish& m,
                          std::string_view clientId, std::chrono::system_clock::time_point now) {
  const mqtt::Properties& props = m.properties;
  std::string out;
  std::tm tm = localTime(now);
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if ((c != '%' && c != '\\' && c != '@') || i + 1 >= format.size()) {
      out += c;
      continue;
    }
    char code = format[++i];
    if (c == '\\') {
      switch (code) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'a':
          out += '\a';
          break;
        case 'e':
          out += '\033';
          break;
        case '0':
          out += '\0';
          break;
        default:
          out += code;
          break;
      }
      continue;
    }
    if (c == '@') {
      if (code == '@') {
        out += '@';
      } else {
        char fmt[3] = {'%', code, '\0'};
        out += strftimeOf(fmt, tm);
      }
      continue;
    }
    switch (code) {
      case '%':
        out += '%';
        break;
      case 't':
        out += m.topic;
        break;
      case 'p':
        out += m.payload;
        break;
      case 'x':
        appendHex(m.payload, false, out);
        break;
      case 'X':
        appendHex(m.payload, true, out);
        break;
      case 'l':
        out += std::to_string(m.payload.size());
        break;
      case 'q':
        out += std::to_string(m.qos);
        break;
      case 'r':
        out += m.retain ? '1' : '0';
        break;
      case 'm':
        out += std::to_string(m.packetId);
        break;
      case 'c':
      case 'i':
        out += clientId;
        break;
      case 'I':
        out += strftimeOf("%Y-%m-%dT%H:%M:%S%z", tm);
        break;
      case 'U': {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
        char buf[48];
        std::snprintf(buf, sizeof buf, "%lld.%09lld",
                      static_cast<long long>(ns.count() / 1'000'000'000),
                      static_cast<long long>(ns.count() % 1'000'000'000));
        out += buf;
        break;
      }
      case 'j': {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch());
        char frac[16];
        std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us.count() % 1'000'000));
        out += "{\"tst\":\"" + strftimeOf("%Y-%m-%dT%H:%M:%S", tm) + frac + "Z" +
               strftimeOf("%z", tm) + "\",\"topic\":";
        appendJsonString(m.topic, out);
        out += ",\"qos\":" + std::to_string(m.qos) + ",\"retain\":" + (m.retain ? "1" : "0") +
               ",\"payloadlen\":" + std::to_string(m.payload.size()) + ",\"payload\":";
        appendJsonString(m.payload, out);
        out += '}';
        break;
      }
      case 'A':
        if (props.topicAlias) out += std::to_string(*props.topicAlias);
        break;
      case 'C':
        if (props.contentType) out += *props.contentType;
        break;
      case 'D':
        if (props.correlationData) out += *props.correlationData;
        break;
      case 'E':
        if (props.messageExpiryInterval) out += std::to_string(*props.messageExpiryInterval);
        break;
      case 'F':
        if (props.payloadFormatIndicator) out += std::to_string(*props.payloadFormatIndicator);
        break;
      case 'P':
        for (size_t k = 0; k < props.userProperties.size(); ++k) {
          if (k > 0) out += ' ';
          out += props.userProperties[k].first + ":" + props.userProperties[k].second;
        }
        break;
      case 'R':
        if (props.responseTopic) out += *props.responseTopic;
        break;
      case 'S':
        for (size_t k = 0; k < props.subscriptionIdentifiers.size(); ++k) {
          if (k > 0) out += ',';
          out += std::to_string(props.subscriptionIdentifiers[k]);
        }
        break;
      default:
        out += '%';
        out += code;
        break;
    }
  }
  return out;
}

std::string plainMessage(const mqtt::Publish& m, bool verbose) {
  if (!verbose) return m.payload;
  return m.topic + " " + (m.payload.empty() ? std::string("(null)") : m.payload);
}

}  // namespace moat::app
