// Decisions in words: action names and Decision::explain().
#include <fmt/format.h>

#include "security/authz_policy.h"

namespace moat::security::authz {

namespace {

std::string_view preposition(Action action) {
  switch (action) {
    case Action::Publish:
    case Action::Subscribe:
      return "to";
    case Action::Receive:
      return "from";
    case Action::Retain:
      return "on";
  }
  return "on";
}

}  // namespace

std::string_view actionName(Action action) {
  switch (action) {
    case Action::Publish:
      return "publish";
    case Action::Subscribe:
      return "subscribe";
    case Action::Receive:
      return "receive";
    case Action::Retain:
      return "retain";
  }
  return "unknown";
}

std::string Decision::explain() const {
  std::string text;
  if (!where.empty()) {
    text = fmt::format("{} by {} ({})", allowed ? "allowed" : "denied", where, rule);
  } else if (allowed) {
    text = "allowed";  // not made by Policy
  } else {
    text = fmt::format("denied: no rule allows {} {} \"{}\" (default deny)", actionName(action),
                       preposition(action), topic);
  }
  if (!note.empty()) text += "; " + note;
  return text;
}

}  // namespace moat::security::authz
