// Edict rule language: the whole grammar. No actions, labelled alternatives;
// the parser stage (compiler/parse) walks the tree once to build Edict's AST.
// Keep this file the single source of truth for the surface syntax; the
// language reference (docs/language.md) describes it in prose.
grammar Edict;

file : item* EOF ;

item
  : policyDecl
  | importDecl
  | outcomesDecl
  | defaultDecl
  | eventDecl
  | constDecl
  | setDecl
  | tableDecl
  | dataDecl
  | defDecl
  | ruleDecl
  | exampleDecl
  | testDecl
  ;

// ---- declarations --------------------------------------------------------

policyDecl   : POLICY STRING policyClause* ;
policyClause
  : VERSION STRING   # policyVersion
  | SOURCE STRING    # policySource
  | STATUS name      # policyStatus
  ;

importDecl   : IMPORT STRING ;
outcomesDecl : OUTCOMES name (LT name)+ ;
defaultDecl  : DEFAULT name ;

eventDecl : EVENT name LBRACE fieldDecls? RBRACE ;
fieldDecls : fieldDecl (COMMA fieldDecl)* COMMA? ;
fieldDecl : fieldName COLON typeExpr ;

// `set` is a keyword (it starts a set declaration) but also names the one
// generic type, `set<T>`.
typeExpr
  : (name | SET) (LT typeExpr GT)? QUESTION?    # namedType
  | LBRACE fieldDecls? RBRACE QUESTION?         # recordType
  ;

constDecl : CONST name (COLON typeExpr)? ASSIGN expr ;
setDecl   : SET name COLON typeExpr ASSIGN expr ;
tableDecl : TABLE name COLON typeExpr ARROW typeExpr ASSIGN LBRACE tableRows? RBRACE ;
tableRows : tableRow (COMMA tableRow)* COMMA? ;
tableRow  : expr COLON expr ;

// Reference data read from a file at run time (docs/language.md, "Data"):
//   data veu: string -> { name: string, added: date, removed: date? }
//     from "lists/veu.csv"  key "id"  columns { added: "start_date" }
//     in force from added until removed
//     screen name, aliases above 0.9   ignoring "ooo", "pao"
// `key`, `columns`, `force`, `screen`, `above` and `ignoring` are ordinary
// names here, checked by the parser stage, so they stay free as identifiers.
dataDecl   : DATA name COLON typeExpr ARROW typeExpr FROM STRING dataClause* ;
dataClause
  : name STRING (COMMA STRING)*                           # dataKeyClause
  | name LBRACE dataColumns? RBRACE                       # dataColumnsClause
  | IN name FROM fieldName (UNTIL fieldName)?             # dataInForceClause
  | name fieldName (COMMA fieldName)* name (NUMBER | INT) # dataScreenClause
  ;
dataColumns : dataColumn (COMMA dataColumn)* COMMA? ;
dataColumn  : fieldName COLON STRING ;

defDecl : DEF name LPAREN params? RPAREN COLON typeExpr ASSIGN expr ;
params  : param (COMMA param)* ;
param   : name COLON typeExpr ;

ruleDecl   : RULE name ON kindList ruleClause* ;
kindList   : ANY | name (COMMA name)* ;
ruleClause
  : EFFECTIVE expr          # effectiveClause
  | UNTIL expr              # untilClause
  | CITE STRING             # citeClause
  | name STRING?            # effectClause
  | WHEN expr               # whenClause
  | UNLESS expr             # unlessClause
  ;

exampleDecl : EXAMPLE name COLON name ASSIGN eventValue ;
eventValue  : (name WITH)? recordLit ;

testDecl  : TEST STRING LBRACE testStep* RBRACE ;
testStep  : GIVEN givenEvent expectClause* ;
givenEvent
  : name recordLit          # givenInline     // given rental { ... }
  | name (WITH recordLit)?  # givenExample    // given sg_startup with { ... }
  ;
expectClause : EXPECT name (BY ONLY? name (COMMA name)*)? ;

// ---- expressions (alternatives listed from tightest to loosest) -----------

expr
  : primary                                                  # primaryExpr
  | expr DOT fieldName                                       # fieldExpr
  | expr LBRACK expr RBRACK                                  # indexExpr
  | MINUS expr                                               # negExpr
  | expr OTHERWISE expr                                      # otherwiseExpr
  | expr op=(STAR | SLASH) expr                              # mulExpr
  | expr op=(PLUS | MINUS) expr                              # addExpr
  | expr IS (PRESENT | ABSENT)                               # isExpr
  | expr NOT? IN expr                                        # inExpr
  | expr op=(EQ | NE | LT | LE | GT | GE) expr               # cmpExpr
  | NOT expr                                                 # notExpr
  | expr AND expr                                            # andExpr
  | expr OR expr                                             # orExpr
  | IF expr THEN expr ELSE expr                              # ifExpr
  ;

primary
  : INT                                                      # intLit
  | NUMBER                                                   # numberLit
  | STRING                                                   # stringLit
  | (TRUE | FALSE)                                           # boolLit
  | DATE                                                     # dateLit
  | DATETIME                                                 # timeLit
  | DURATION                                                 # durationLit
  | EVENT                                                    # eventRef
  | name LPAREN DISTINCT? args? RPAREN OVER (calendarWindow | aggOperand) (BY aggOperand)? (WHERE expr)?  # aggregate
  | name LPAREN args? RPAREN                                 # call
  | name                                                     # nameRef
  | LPAREN expr RPAREN                                       # parens
  | LBRACE (expr (COMMA expr)* COMMA?)? RBRACE               # setLit
  | recordLit                                                # recordLitExpr
  ;

args : expr (COMMA expr)* ;

// The window and key of an aggregate are simple operands (a literal, a name,
// `event.field`, `t[k]`, or anything in parentheses) so that a comparison
// after them applies to the aggregate: `sum(x) over 30d by event.c > 100`.
aggOperand : primary (DOT fieldName | LBRACK expr RBRACK)* ;

// `over calendar year`: the window from the start of the event's UTC calendar
// year. Two plain names, not keywords, so `year` and `calendar` stay usable as
// names; the parser's builder accepts only `calendar year`.
calendarWindow : name name ;

// Entry point for the `{ ... }` pieces of a rule's message string, which the
// parser stage parses on their own.
embeddedExpr : expr EOF ;

// A record literal needs at least one `field:` to tell it from a set literal.
recordLit  : LBRACE (fieldInits)? RBRACE ;
fieldInits : fieldInit (COMMA fieldInit)* COMMA? ;
fieldInit  : fieldName COLON expr ;

name : IDENT ;
// Field names may reuse keywords: `event.source`, `{ status: ... }`.
fieldName : IDENT | keyword ;
keyword
  : POLICY | VERSION | SOURCE | STATUS | IMPORT | OUTCOMES | DEFAULT | EVENT
  | CONST | SET | TABLE | DEF | RULE | ON | ANY | EFFECTIVE | UNTIL | CITE
  | WHEN | UNLESS | EXAMPLE | TEST | GIVEN | WITH | EXPECT | BY | ONLY | AND
  | OR | NOT | IN | IS | PRESENT | ABSENT | IF | THEN | ELSE | OTHERWISE
  | TRUE | FALSE | OVER | WHERE | DISTINCT | DATA | FROM
  ;

// ---- lexer ----------------------------------------------------------------

POLICY : 'policy' ; VERSION : 'version' ; SOURCE : 'source' ; STATUS : 'status' ;
IMPORT : 'import' ; OUTCOMES : 'outcomes' ; DEFAULT : 'default' ; EVENT : 'event' ;
CONST : 'const' ; SET : 'set' ; TABLE : 'table' ; DEF : 'def' ; RULE : 'rule' ;
ON : 'on' ; ANY : 'any' ; EFFECTIVE : 'effective' ; UNTIL : 'until' ; CITE : 'cite' ;
WHEN : 'when' ; UNLESS : 'unless' ; EXAMPLE : 'example' ; TEST : 'test' ;
GIVEN : 'given' ; WITH : 'with' ; EXPECT : 'expect' ; BY : 'by' ; ONLY : 'only' ;
AND : 'and' ; OR : 'or' ; NOT : 'not' ; IN : 'in' ; IS : 'is' ;
PRESENT : 'present' ; ABSENT : 'absent' ; IF : 'if' ; THEN : 'then' ; ELSE : 'else' ;
OTHERWISE : 'otherwise' ; TRUE : 'true' ; FALSE : 'false' ;
OVER : 'over' ; WHERE : 'where' ; DISTINCT : 'distinct' ;
DATA : 'data' ; FROM : 'from' ;

ARROW : '->' ; EQ : '==' ; NE : '!=' ; LE : '<=' ; GE : '>=' ; LT : '<' ; GT : '>' ;
ASSIGN : '=' ; PLUS : '+' ; MINUS : '-' ; STAR : '*' ; SLASH : '/' ;
LPAREN : '(' ; RPAREN : ')' ; LBRACE : '{' ; RBRACE : '}' ; LBRACK : '[' ; RBRACK : ']' ;
COMMA : ',' ; COLON : ':' ; DOT : '.' ; QUESTION : '?' ;

// Order matters: the longest match wins, and on a tie the earlier rule.
DATETIME : DIGIT4 '-' DIGIT2 '-' DIGIT2 'T' DIGIT2 ':' DIGIT2 ':' DIGIT2 ('.' [0-9]+)? ('Z' | [+-] DIGIT2 ':' DIGIT2) ;
DATE     : DIGIT4 '-' DIGIT2 '-' DIGIT2 ;
DURATION : [0-9]+ [dhms] ([0-9]+ [dhms])* ;
NUMBER   : DIGITS '.' DIGITS EXPONENT? | DIGITS EXPONENT ;
INT      : DIGITS ;
IDENT    : [a-zA-Z_] [a-zA-Z0-9_]* ;
STRING   : '"' (ESC | ~["\\\r\n])* '"' ;
// Error tokens: the parser stage turns these into precise diagnostics.
// A time without `Z` or an offset is read as one (bad) time, not a date and a name.
DATETIME_NO_ZONE     : DIGIT4 '-' DIGIT2 '-' DIGIT2 'T' DIGIT2 ':' DIGIT2 (':' DIGIT2 ('.' [0-9]+)?)? ;
UNTERMINATED_STRING  : '"' (ESC | ~["\\\r\n])* ;
BLOCK_COMMENT        : '/*' .*? '*/' -> channel(2) ;
// Only a `/*` with no `*/` after it: `'/*' .*? EOF` would always be the
// longest match and swallow every later comment and declaration.
UNTERMINATED_COMMENT : '/*' (~'*' | '*'+ ~[*/])* '*'* EOF ;
LINE_COMMENT         : '//' ~[\r\n]* -> channel(2) ;
WS                   : [ \t\r\n\u000C]+ -> skip ;
ERROR_CHAR           : . ;

fragment DIGIT4   : [0-9] [0-9] [0-9] [0-9] ;
fragment DIGIT2   : [0-9] [0-9] ;
fragment DIGITS   : [0-9] ([0-9_]* [0-9])? ;
fragment EXPONENT : [eE] [+-]? [0-9]+ ;
fragment ESC      : '\\' . ;
