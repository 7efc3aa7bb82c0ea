/* Decides JSON Lines events of the reference workload with the ahead-of-time
 * compiled policy (`edict build policies/reference.edict -o libreference.so`)
 * and prints, per line:  LINE <TAB> DECISION <TAB> FIRED,RULES
 * Plain C with its own small reader for the corpus' flat JSON objects, so the
 * program links only the generated library and libc. Strings go with their
 * lengths (`x_len`), so one holding `\u0000` is decided as `edict eval` does.
 *
 *   reference_driver EVENTS.jsonl
 */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

enum type { BOOL, INT, NUM, STR, TIME };
struct field {
  const char* name;
  enum type type;
  size_t offset;
  size_t has; /* offset of has_<name> for optional fields, else (size_t)-1 */
  size_t len; /* offset of <name>_len for strings, else (size_t)-1 */
};
#define NO ((size_t)-1)
#define R(name, type) \
  { #name, type, offsetof(reference_rental, name), NO, NO }
#define P(name, type) \
  { #name, type, offsetof(reference_provision, name), NO, NO }
#define RS(name) \
  { #name, STR, offsetof(reference_rental, name), NO, offsetof(reference_rental, name##_len) }
#define PS(name) \
  { #name, STR, offsetof(reference_provision, name), NO, offsetof(reference_provision, name##_len) }

static const struct field rental[] = {
    RS(id),
    R(time, TIME),
    RS(provider),
    RS(provider_hq),
    RS(provider_parent_hq),
    RS(datacenter),
    RS(region),
    RS(customer_id),
    RS(customer_name),
    RS(customer_hq),
    RS(parent_hq),
    RS(chip),
    R(chip_count, INT),
    R(hours, NUM),
    RS(purpose),
    R(training_ops, NUM),
    RS(training_data),
    RS(end_user_type),
    RS(end_use),
    R(entity_listed, BOOL),
    R(listed_ownership, NUM),
    {"license", STR, offsetof(reference_rental, license), offsetof(reference_rental, has_license),
     offsetof(reference_rental, license_len)},
    {NULL, STR, 0, NO, NO}};
static const struct field provision[] = {PS(id),
                                         P(time, TIME),
                                         PS(provider),
                                         PS(provider_hq),
                                         PS(provider_parent_hq),
                                         PS(datacenter),
                                         PS(region),
                                         PS(customer_id),
                                         PS(customer_hq),
                                         PS(parent_hq),
                                         PS(chip),
                                         P(chip_count, INT),
                                         P(entity_listed, BOOL),
                                         P(listed_ownership, NUM),
                                         P(dedicated, BOOL),
                                         PS(ships_from),
                                         PS(cluster_id),
                                         P(interconnect_gbps, NUM),
                                         P(peak_ops_per_s, NUM),
                                         {NULL, STR, 0, NO, NO}};

static long long days_from_civil(long long y, unsigned m, unsigned d) {
  y -= m <= 2;
  long long era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (long long)doe - 719468;
}

/* YYYY-MM-DDTHH:MM:SSZ, the corpus' only time format. */
static int parse_time(const char* s, int64_t* micros) {
  int y, mo, d, h, mi, se;
  if (strlen(s) != 20 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &se) != 6) return 0;
  *micros = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400) + h * 3600 + mi * 60 + se) * 1000000LL;
  return 1;
}

/* Reads a JSON string at *p (after the quote) in place; returns its start
 * and sets *size (it may hold NUL bytes). */
static char* read_string(char** p, size_t* size) {
  char *in = *p, *out = *p, *start = *p;
  while (*in && *in != '"') {
    if (*in == '\\') {
      ++in;
      switch (*in) {
        case 'n': *out++ = '\n'; break;
        case 't': *out++ = '\t'; break;
        case 'r': *out++ = '\r'; break;
        case 'b': *out++ = '\b'; break;
        case 'f': *out++ = '\f'; break;
        case 'u': {
          unsigned cp = (unsigned)strtoul((char[5]){in[1], in[2], in[3], in[4], 0}, NULL, 16);
          in += 4;
          if (cp < 0x80)
            *out++ = (char)cp;
          else if (cp < 0x800) {
            *out++ = (char)(0xC0 | cp >> 6);
            *out++ = (char)(0x80 | (cp & 0x3F));
          } else {
            *out++ = (char)(0xE0 | cp >> 12);
            *out++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *out++ = (char)(0x80 | (cp & 0x3F));
          }
          break;
        }
        default: *out++ = *in;
      }
      ++in;
    } else {
      *out++ = *in++;
    }
  }
  if (*in == '"') ++in;
  *size = (size_t)(out - start);
  *out = 0;
  *p = in;
  return start;
}

/* Fills `event` from one flat JSON object; returns the kind or NULL. */
static const char* fill(char* line, void* event, const struct field* (*fields_of)(const char*)) {
  const char* kind = NULL;
  const struct field* fields = NULL;
  char* keys[64];
  char* values[64];
  size_t sizes[64], key_size;
  int value_is_string[64], n = 0;
  char* p = line;
  while (*p && n < 64) {
    char* q = strchr(p, '"');
    if (!q) break;
    p = q + 1;
    keys[n] = read_string(&p, &key_size);
    p = strchr(p, ':') + 1;
    while (*p == ' ') ++p;
    if (*p == '"') {
      ++p;
      values[n] = read_string(&p, &sizes[n]);
      value_is_string[n] = 1;
    } else {
      values[n] = p;
      sizes[n] = 0;
      p += strcspn(p, ",}");
      char end = *p;
      *p = 0;
      if (end) ++p;
      value_is_string[n] = 0;
    }
    if (strcmp(keys[n], "kind") == 0) kind = values[n];
    ++n;
  }
  if (!kind || !(fields = fields_of(kind))) return NULL;
  for (int i = 0; i < n; ++i) {
    for (const struct field* f = fields; f->name; ++f) {
      if (strcmp(f->name, keys[i]) != 0) continue;
      char* at = (char*)event + f->offset;
      if (f->has != NO) {
        int present = value_is_string[i] || strcmp(values[i], "null") != 0;
        *(bool*)((char*)event + f->has) = present;
        if (!present) break;
      }
      switch (f->type) {
        case BOOL: *(bool*)at = strcmp(values[i], "true") == 0; break;
        case INT: *(int64_t*)at = strtoll(values[i], NULL, 10); break;
        case NUM: *(double*)at = strtod(values[i], NULL); break;
        case STR:
          *(const char**)at = values[i];
          *(size_t*)((char*)event + f->len) = sizes[i];
          break;
        case TIME:
          if (!parse_time(values[i], (int64_t*)at)) return NULL;
          break;
      }
    }
  }
  return kind;
}

static const struct field* fields_of(const char* kind) {
  if (strcmp(kind, "rental") == 0) return rental;
  if (strcmp(kind, "provision") == 0) return provision;
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: reference_driver EVENTS\n");
    return 2;
  }
  if (reference_schema_version() != REFERENCE_SCHEMA_VERSION) return 3;
  FILE* in = fopen(argv[1], "rb");
  if (!in) return 2;
  char* line = NULL;
  size_t capacity = 0;
  long number = 0;
  while (getline(&line, &capacity, in) >= 0) {
    ++number;
    reference_rental r;
    reference_provision pr;
    memset(&r, 0, sizeof r);
    memset(&pr, 0, sizeof pr);
    reference_result result;
    int status;
    char* copy = strdup(line);
    const char* kind = fill(copy, strstr(line, "\"kind\":\"provision\"") ? (void*)&pr : (void*)&r, fields_of);
    if (!kind) {
      printf("%ld\terror\t\n", number);
      free(copy);
      continue;
    }
    status = strcmp(kind, "rental") == 0 ? reference_eval_rental(&r, &result)
                                         : reference_eval_provision(&pr, &result);
    (void)status;
    printf("%ld\t%s\t", number, reference_outcome_name(result.decision));
    int first = 1;
    for (uint32_t i = 0; i < REFERENCE_RULE_COUNT; ++i)
      if (reference_fired(&result, i)) {
        printf("%s%s", first ? "" : ",", reference_rule_name(i));
        first = 0;
      }
    printf("\n");
    free(copy);
  }
  free(line);
  fclose(in);
  return 0;
}
