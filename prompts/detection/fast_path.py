"""Weighted regex cues per role: the cheap first look, trusted only when one role clearly wins.

Each `PatternRule` adds its weight to its role when its pattern matches anywhere in the task text (once per rule,
however often it matches). Negative weights are allowed and mean "this phrase argues against the role"
("no sources needed" is not a research request). A decision comes back only when the best role scores at least
`min_score` and beats the runner-up by `margin`; anything closer is left to the classifier.

The patterns describe *deliverables* ("write tests for", "why does this fail", "review this"), not topics: a
prompt about tests that reports a traceback is debugging, so the failure cues outweigh the topic words. The table
is an argument so an admin-edited table can replace `DEFAULT_RULES` without touching code; compiled tables are
cached by value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from re import _constants as _sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]

import ahocorasick

__all__ = ["DEFAULT_RULES", "CompiledRules", "FastPathResult", "PatternRule", "compile_rules", "default_table", "score"]

ROLES = (
    "architect",
    "implementation",
    "code_review",
    "debugging",
    "testing",
    "documentation",
    "research",
    "general",
)
DEFAULT_MIN_SCORE = 2.0
DEFAULT_MARGIN = 1.5
# Long pastes (logs, whole files) carry their signal at the start and the end; the middle only costs time.
_HEAD_CHARS = 1500
_TAIL_CHARS = 500
# Of a long fenced block only its first lines (what it is) and last lines (where a traceback ends) are kept.
_FENCE_KEEP_HEAD = 3
_FENCE_KEEP_TAIL = 6
_FENCED_RE = re.compile(r"^(```|~~~)([^\n]*)\n(.*?)^\1[ \t]*$", re.DOTALL | re.MULTILINE)
# Less specific necessary substrings are too common to be worth a prefilter entry (see _specificity).
_MIN_FACTOR = 3


@dataclass(frozen=True, slots=True)
class PatternRule:
    """One cue: `pattern` (a Python regex, multi-line) adds `weight` to `role` when it matches.

    Matching ignores case unless `case_sensitive` (for shapes like `KeyError` or `EADDRINUSE`, where the case is the
    signal); `(?-i:...)` inside a pattern also works.
    """

    role: str
    pattern: str
    weight: float
    case_sensitive: bool = False


@dataclass(frozen=True, slots=True)
class FastPathResult:
    """Per-role scores, the matched rules, and `role` only when the margin test passed (else None)."""

    scores: dict[str, float]
    role: str | None
    confidence: float
    hits: tuple[int, ...]


R = PatternRule
_A, _I, _C, _D, _T, _W, _S, _G = ROLES

DEFAULT_RULES: tuple[PatternRule, ...] = (
    # --- debugging: a failure is reported and its cause or fix is wanted -------------------------------------
    R(_D, r"traceback \(most recent call last\)|^\s+at [\w$.<>]+\(.*:\d+\)|\bstack ?trace\b|\bcore dumped\b"
          r"|\bpanic: |goroutine \d+ \[", 3.0),
    R(_D, r"\b\w+(?:error|exception|fault|mismatch|warning)\b|\berror\[e\d+\]|\bfatal error\b"
          r"|\bexit(?:s|ed)? (?:\w+ )?(?:with )?(?:code|status) [1-9]\d*|\berror: ", 2.0),
    R(_D, r"\b(?:WARNING|ERROR|CRITICAL|FATAL)\b.{0,3}\s?[\w\[]|\bE[A-Z]{4,}\b", 2.0, case_sensitive=True),
    R(_D, r"\b(?:crash(?:es|ed|ing)?|segfaults?|segmentation fault|deadlocks?|hangs|hanging|freez(?:es|ing)"
          r"|oom[- ]?killed|out of memory|memory leak|leaks?|leaking|crashloopbackoff|times? out|timing out"
          r"|timed out|dies|died|killed|stuck|infinite loop|spinning|spins forever|blank (?:page|screen)"
          r"|white screen|disconnects?|intermittent(?:ly)?|sporadic(?:ally)?|randomly|spikes?|spiking|doubled"
          r"|skyrocket\w*|silently)\b", 1.5),
    R(_D, r"\b(?:fails?|failing|failed|broken|broke|blows? up|doesn'?t work|does not work|isn'?t working"
          r"|not working|stopped (?:working|sending|responding|loading|picking)|no longer works"
          r"|won'?t (?:start|compile|build|run|load)|can'?t (?:resolve|find|import|connect)|gets? rejected|garbled"
          r"|returns? (?:none|null|nil|undefined|nan)|(?:is|are)n?'?t? (?:not )?(?:updating|changing|loading)"
          r"|get logged out|does nothing|slower after|works (?:fine |locally )?(?:on my machine )?but|don'?t add up"
          r"|off by (?:one|a few|\d+)|inconsistent (?:results|between|across|timings|numbers)|fires? twice"
          r"|runs? twice|never (?:matches|finishes|returns|loads|fires)"
          r"|(?:shows?|showing|getting|seeing) (?:\w+ ){0,3}(?:nan|negative|duplicates?|duplicated|stale|wrong)"
          r"|since (?:this morning|yesterday|last (?:week|night|deploy|release)|the (?:upgrade|update|deploy))"
          r"|after (?:the|we|i) (?:upgrad|updat|deploy|migrat|rotat)\w*)\b", 1.5),
    R(_D, r"\b(?:why (?:does|do|is|are|did|was|would|am|can'?t|won'?t|isn'?t|doesn'?t)\b|what'?s (?:going on|causing)"
          r"|what (?:is|could be) causing|what could cause|root cause|find (?:the|this) (?:bug|leak|cause|problem)"
          r"|track (?:\w+ )?down|figure out why|how (?:do|can|should) (?:i|we) (?:fix|debug|resolve|solve|investigate"
          r"|troubleshoot|diagnose)|how to (?:debug|troubleshoot|fix)|where (?:is the|should i look)|what changed"
          r"|what'?s the fix|what'?s wrong\?|any idea why|no idea why|can'?t figure out|what'?s up with"
          r"|where do i (?:start|begin)|how can i (?:figure out|find out|tell) (?:what|why|where))"
          r"|\A\W*help\b|\bhelp[,!]|\bsomething'?s (?:off|wrong|weird|broken)", 2.0),
    R(_D, r"\b(?:getting|get|got|says?|said|shows?|prints?|logs?|raises?|throws?|complains?|fails? with|dies with)"
          r"\s+(?:me\s+|us\s+)?(?:an?\s+|the\s+)?(?:error\s+)?['\"`‘“]", 1.5),
    R(_D, r"\b(?:fix (?:this|it|the (?:bug|error|crash|issue|problem|leak))|debug(?:ging)? (?:this|it)|bugs?\b"
          r"|getting (?:an? |this |the )?(?:error|exception|warning|\d{3})|throws?\b"
          r"|raises? (?:an? )?\w*(?:error|exception)|(?:gives?|returns?|responds? with) (?:an? |me )?(?:[45]\d\d)\b)",
      1.0),
    R(_D, r"\bfehler(?:meldung)?\b|fehler:|stürzt|abgestürzt|funktioniert nicht|woran liegt|behebe"
          r"|bricht\b.{0,30}\bab\b|hängt|geht nicht|klappt nicht|schlägt fehl|schlagen\b.{0,40}\bfehl\b"
          r"|(?<!gestion des )erreur|\bplante|ne (?:marche|fonctionne|s'affiche) (?:pas|plus)|échoue|doublons|bloqué"
          r"|falla|fallando|se cuelga|se cae|no funciona|no carga|intermitente|qué pasa|desde ayer|dá erro|deu erro"
          r"|(?:retorna|apresenta|mostra) erro|erro (?:ao|no|na|de|\d)|falha"
          r"|não funciona|\btrava\b"
          r"|fecha sozinho|não carrega|报错|崩溃|出错|失败|错误(?!处理)|一直转圈|卡住|排查|不生效|没反应|闪退"
          r"|エラー(?!ハンドリング|処理)|落ちる|動かない|切れて|表示されな|原因を調べ|止まる"
          r"|(?:с|выда[ёе]т|получаю|возникает|появляется) ошибк|ошибка\b|пада[ею]т|не работает|сломал|задержк|зависает"
          r"|вылетает|не приходит|не отображается", 2.0),
    R(_D, r"\bwarum\b|pourquoi|por qu[eé]|为什么|なぜ|原因|почему", 0.5),
    # A failure that is already fixed is context, not the deliverable.
    R(_D, r"\b(?:is|was|are|were|got|been|has been) (?:now )?(?:fixed|resolved|solved)\b|\b(?:fixed|resolved) now\b"
          r"|\bnow fixed\b|\b(?:bug|crash|error|issue) is gone\b", -2.0),
    # --- testing: new tests are the deliverable -----------------------------------------------------------------
    R(_T, r"\b(?:write|add|create|generate|implement|need|give me|cover|build|set up|extend)\b[^.?!\n]{0,60}?"
          r"\b(?:unit[- ]tests?|tests?|specs?|test cases?|test suites?|test class|doctests?|e2e|end-to-end)\b", 3.0),
    R(_T, r"\b(?:tests? for|covered by tests|cover(?:ed)? (?:\w+ ){0,4}(?:with|by) (?:\w+ )?tests"
          r"|tests? (?:that|to) (?:verify|check|ensure|make sure|assert|prove)|test the (?:happy|error|edge|failure)"
          r"|test (?:cases?|scenarios?)|e2e (?:scenario|test)|parametri[sz]e|branch coverage)\b", 2.5),
    R(_T, r"\b(?:test coverage|coverage (?:for|of|to)|increase coverage|pytest|jest|vitest|mocha|rspec|junit|playwright"
          r"|cypress|hypothesis|testing library|mockito|moto|k6|pact|fuzz(?:ing)? tests?|property-based"
          r"|snapshot tests?|regression tests?|load tests?|table-driven|testcontainers)\b", 1.0),
    R(_T, r"\b(?:edge cases?|corner cases?|happy path|boundary (?:values|cases)|mock(?:s|ed|ing)?|mock-based"
          r"|stub(?:s|bed)?|fakes?|fixtures?|asserts?|assert on)\b", 0.5),
    R(_T, r"tests? schreiben|schreib\w*[^.?!\n]{0,40}tests?\b|ergänze tests|tests für|testfälle|randfälle"
          r"|tests? unitaires|écri[st]\w*[^.?!\n]{0,30}\btests?\b|ajoute des tests|des tests pour|cas limites"
          r"|pruebas (?:unitarias|automatizadas|de|para)|escribe (?:pruebas|tests)|agrega pruebas|tests para"
          r"|testes (?:unitários|automatizados|para)|escreva testes|crie testes|casos de teste|单元测试|编写测试|写测试"
          r"|测试用例|补充.{0,6}测试|加.{0,4}测试|ユニットテスト|単体テスト|結合テスト|テストを書|テストを追加|テストコード|テストケース"
          r"|напиши тест|тесты на|тесты для|покрой тестами|юнит-тест|модульные тесты|граничные случаи", 3.0),
    # --- code_review: judgement on existing code, no failure reported -----------------------------------------
    R(_C, r"\b(?:review(?:ing)?|code[- ]review|critique|audit|sanity[- ]check|second pair of eyes|look over"
          r"|look through|feedback on|proofread)\b", 2.5),
    R(_C, r"\b(?:is (?:this|my|it|that|the)\b[^.?!\n]{0,50}?\b(?:idiomatic|correct|safe|ok|okay|good|reasonable"
          r"|thread-safe|readable|clean|secure|fine|right|an anti-pattern)|are (?:these|they|my)\b[^.?!\n]{0,30}?"
          r"\b(?:good|ok|okay|correct|reasonable)|any (?:issues|problems|concerns|red flags) (?:with|in)"
          r"|(?:what'?s|anything|is there anything) wrong (?:with|in)|what would (?:a|you)\b[^.?!\n]{0,30}\bflag"
          r"|spot the (?:problems|bugs|issues)|code smells?|anti-?patterns?|best practices|violates?|readability"
          r"|before (?:i|we) (?:merge|ship)|go through\b[^.?!\n]{0,40}\b(?:for|and tell))\b", 2.0),
    R(_C, r"\b(?:thoughts on|what do you think (?:of|about)|your (?:opinion|take) on|would you (?:approve|merge|accept)"
          r"|how could (?:it|this|i) be (?:better|improved)|how (?:can|could|would) (?:i|you|we) improve"
          r"|is there a (?:cleaner|better|simpler|more idiomatic) way|cleaner way|code quality|quality issues"
          r"|red flags|brutally honest|what would you change|evaluate (?:this|my|the)|rate (?:this|my|the)"
          r"|(?:does|do) (?:this|it|my \w+) follow|conventions|overkill|over-?engineered|maintainab(?:le|ility)"
          r"|security holes?|race conditions?|(?:bad|good|best) practices?|check (?:this|my|the) [\w-]+ for"
          r"|(?:cases|things|anything) i (?:might|may|could) have missed|would (?:object|complain) to"
          r"|would make you (?:block|reject)|(?:do|would) (?:anything|things) differently)\b", 2.0),
    R(_C, r"\b(?:pull request|merge request|pr|this diff|the diff|my branch)\b", 1.0),
    R(_C, r"reviewen|reviewn|durchsehen|sauber geschrieben|relire|relis|revue de code|ton avis|votre avis"
          r"|qualité de ce code|\brevisa\b|revisión de código|qué mejorarías|revisão|o que você acha|审查|改进"
          r"|写得怎么样|改善点|レビュー|ревью|проверь код|оцени (?:качество|код)", 2.5),
    # --- documentation: prose for people is the deliverable ------------------------------------------------------
    R(_W, r"\b(?:write|add|create|draft|update|improve|rewrite|generate|produce|prepare)\b[^.?!\n]{0,50}?"
          r"\b(?:readme|docs?|documentation|docstrings?|jsdoc|javadoc|tsdoc|comments|changelog|release notes?"
          r"|tutorial|how-to|guide|runbook|faq|man[- ]page|help text|docs page|api reference|reference page"
          r"|postmortem|post-mortem|contributing|style\.md|wiki|onboarding doc|article|glossary|overview"
          r"|explanation|upgrade notes|incident report)\b", 3.0),
    R(_W, r"\bdocument(?:ing)?\s+(?:the|this|our|how|each|every|all|it|these|what|why)\b"
          r"|\b(?:explain|describe)\b[^.?!\n]{0,60}\b(?:in|for|to) (?:the|our) (?:\w+ )?(?:docs|documentation|readme"
          r"|wiki|guide|manual|handbook)\b"
          r"|\bwrit(?:e|ten) (?:it )?down\b|\bwrite (?:it )?up\b", 2.5),
    R(_W, r"\b(?:readme-style|overview for|comment (?:the|this|these|each|every|all)|add (?:inline )?comments"
          r"|help text|guide (?:for|on)|getting[- ]started|usage (?:docs|section|instructions)|docs? page"
          r"|for the (?:\w+ )?wiki|decision record|docstrings?|glossary|how-to (?:article|page)"
          r"|turn (?:this|these|the)\b[^.?!\n]{0,40}\binto (?:a |an )?(?:proper )?(?:\w+ )?"
          r"(?:how-to|guide|docs?|article|readme|page|section)"
          r"|explain\b[^.?!\n]{0,60}\bso (?:that )?(?:a |new )?\w+ can"
          r"|(?:for|to) (?:my|our|the|new) (?:teammates|team|new hires|customers|readers|users)\b)", 2.0),
    R(_W, r"\b(?:readme|changelog|jsdoc|javadoc|markdown|inline comments|release notes|user docs"
          r"|developer docs|non-technical)\b", 1.0),
    R(_W, r"dokumentation|dokumentier|\bdoku\b|anleitung|rédige|guide d'installation|commentaires"
          r"|\bdocumente[rz]\b|documente (?:o|a|os|as|como|este|esta)\b|documentación"
          r"|documenta (?:el|la|los|las|este|esta|cómo)\b|redacta|(?:guía|guia) (?:de|para)|documentação|文档|注释"
          r"|使用说明|ドキュメント|説明書|仕様書|コメントを|комментари|kommentare|comentários|comentarios"
          r"|документаци|задокументируй|инструкци|напиши readme", 2.5),
    # --- research: sourced evidence is the deliverable -----------------------------------------------------------
    R(_S, r"\b(?:cite|citing|citations?|(?<!open[- ])sources?(?! code)|references|with links|links to|primary sources"
          r"|peer-reviewed|quote (?:them|and link)|give (?:me )?links|include (?:\w+ )?links|link (?:them|it|the)"
          r"|point me to|write-ups|blog posts|experience reports|mailing lists?|the original paper|critiques"
          r"|independent benchmarks|what are (?:people|teams|companies|folks) using|who uses"
          r"|give me (?:papers|sources|links|references)|provide (?:sources|references|links|citations)"
          r"|link (?:to )?(?:them|it|their|the)|written publicly)\b", 2.0),
    R(_S, r"\bwhat (?:does|do) (?:the )?(?:literature|research|evidence|data|studies|benchmarks|docs|documentation)"
          r"\b[^.?!\n]{0,20}\bsay\b", 2.0),
    R(_S, r"\b(?:no (?:need for )?(?:sources|citations|references)|(?:don'?t|do not) need (?:sources|citations)"
          r"|no citations|sources? (?:aren'?t|are not|not) needed|without (?:sources|citations))\b", -3.0),
    R(_S, r"\b(?:research|survey|investigate|gather|collect|find|dig up|look up|look for|compile|check)\b"
          r"[^.?!\n]{0,80}?\b(?:evidence|studies|study|papers?|benchmarks?|sources|articles|literature|reports"
          r"|case studies|surveys?|measurements|discussions|threads|announcements|statistics|stats|guidance"
          r"|recommendations|leaderboards?|posts|talks|documentation|docs|peps?|rfcs?|changelog|timelines)\b", 2.5),
    R(_S, r"\b(?:state of the art|literature|published|papers|studies|case studies|evidence|according to"
          r"|what do (?:the )?[\w ]{1,30} say|what does (?:the )?[\w ]{1,30} say)\b", 1.5),
    R(_S, r"\b(?:compare|comparison|comparisons|versus|vs\.?)\b", 0.5),
    R(_S, r"recherchier|suche (?:benchmarks|studien|artikel|quellen)|quellen|studien|erfahrungsberichte|verlinke"
          r"|\brecherche\b|cherche des|retours d'expérience"
          r"|avec (?:des )?liens|investiga (?:qué|cómo|si|el|la|los|las|sobre)\b|fuentes|estudios"
          r"|busca (?:comparativas|artículos|estudios)|enlázal|enlaces"
          r"|pesquis|referências|fontes|estudos|procure artigos|com links|调研|来源|资料|附上链接|查一下|出典"
          r"|(?<!原因を)調べて|調査|リンク|探して|исследовани|источник|ссылками|ссылки|собери ссылки", 2.5),
    # --- architect: a design for the person's own system -------------------------------------------------------
    R(_A, r"\b(?:design|sketch|propose|outline|plan|architect|define|recommend|map out|think through)\b"
          r"[^.?!\n]{0,60}?\b(?:architecture|system|schema|data model|layout|structure|strategy|scheme|deployment"
          r"|components?|pipeline|contract|boundaries|layers?|hierarchy|interfaces|topology|model|infrastructure"
          r"|migration|approach|data flow)\b", 2.5),
    R(_A, r"\b(?:architecture|system design|high-level design|trade-?offs?|bounded contexts?|service boundaries"
          r"|module boundaries|scalab(?:le|ility)|sharding|multi-region|active-active|failover|microservices?"
          r"|monolith|event sourcing|adr|rfc|design proposal|technical plan|migration plan|dependency direction)\b",
      1.5),
    R(_A, r"\b(?:how should (?:i|we|the)\b[^.?!\n]{0,40}?\b(?:structure|organi[sz]e|lay out|architect|split|design"
          r"|model|share|handle|work|communicate)|what'?s the right way to (?:structure|organi[sz]e)|what architecture"
          r"|(?:not|no) code yet|before (?:we|i) write any code|don'?t implement|plan,? not code|starting from scratch"
          r"|should (?:we|i) (?:introduce|use|adopt|move to|switch to|go with)|or should we|design question"
          r"|at a high level|high-level|overall (?:system|design|structure|data flow|architecture|approach)"
          r"|big picture|how (?:do|would|will) (?:they|these|it all) fit together|how would you (?:build|design"
          r"|structure|approach|architect|organi[sz]e)|what would a (?:\w+ )?(?:folder |project |directory )?"
          r"(?:structure|layout)|what (?:layers|components|services) (?:should|do)|come up with a plan"
          r"|rollout (?:plan|strategy)|(?:recommend|suggest|need|looking for) (?:an? )?(?:approach|strategy)"
          r"|good strategy|blueprint|looking for a (?:structure|design|layout)|(?:cleanest|best|right|proper|sane) way"
          r" to (?:separate|structure|organi[sz]e|split|lay out)|how (?:do|would) you think (?:the|it|this|we)"
          r"|weigh (?:it|them|this|the options) up|(?:redesign|re-architect)\b|guidance on (?:structuring|designing"
          r"|organi[sz]ing|architecting|splitting)|what should the (?:new )?(?:\w+ )?(?:structure|architecture|design"
          r"|layout|data model) (?:be|look like)|draw the (?:lines|boundaries)|where would you (?:draw|split|cut))\b",
      2.5),
    R(_A, r"architektur|skizziere|entwirf|entwurf|konzept|migrationsplan|conception|conçois|découpage"
          r"|organisation des modules|propose une|arquitectura"
          r"|diseña|diseño|cómo deberían|arquitetura|proponha|como devemos|架构|设计|方案|规划|設計|アーキテクチャ"
          r"|構成|архитектур|спроектируй|проектирован|нужен план|как лучше организовать|схему модулей", 2.5),
    # --- implementation: code is the deliverable -----------------------------------------------------------------
    R(_I, r"\b(?:implement|add|create|build|write|make|refactor|convert|port|replace|extend|wire|generate|rename"
          r"|extract|apply|migrate|rewrite|modify|code)\b[^.?!\n]{0,50}?\b(?:functions?|class(?:es)?|methods?"
          r"|endpoints?|flags?|features?|hooks?|components?|middlewares?|modules?|scripts?|cli|workflows?|columns?"
          r"|handlers?|api|pages?|helpers?|decorators?|services?|models?|views?|quer(?:y|ies)|toggle|websockets?"
          r"|retry|pagination|logging|migrations?|protocols?|parameters?|managers?|boilerplate|code|program|tool"
          r"|app|form|dark mode|i18n|index|constants|data class|mapper|button|menu|navbar|sidebar|table|bot"
          r"|command|router|crud|plugin|extension|worker|cron job|widget|screen|modal|dialog|webhook|integration)\b",
      2.0),
    R(_I, r"^\W*(?:(?:can|could|would) you (?:please )?|please |pls |let'?s |i (?:want|need) (?:you )?to |now )?"
          r"(?:make(?! sure)|change|update|remove|delete|move|rename|use|let|allow|support|enable|disable"
          r"|hook up|switch|replace|handle|ensure|prevent|show(?! me)"
          r"|translate (?:this|the|my|it) (?!into)|hide|display|sort|filter|parse|validate|send"
          r"|store|save|load|integrate|wire|expose|paginate|restrict|port|rewrite|optimi[sz]e|speed up|clean up"
          r"|simplify|introduce|code|upgrade|bump|refactor|extract|split|implement)\b", 2.0),
    R(_I, r"\b(?:translate|port|convert|rewrite)\b (?:this|the|my|it|our) (?:\w+ )?(?:script|code|function|class|module"
          r"|file|component|program|snippet)s?\b[^.?!\n]{0,20}\b(?:to|in|into) \w", 2.5),
    R(_I, r"\b(?:implement|refactor|port this|convert this|wire (?:up|the|it)|boilerplate)\b", 1.0),
    # "Write code that generates docs" is implementation: the code is the deliverable, whatever it produces.
    R(_I, r"\b(?:script|tool|program|function|cli(?: command)?|command|code|generator|bot|job|utility)\b"
          r" (?:that|which|to) (?:\w+ ){0,3}?(?:generates?|creates?|produces?|builds?|reads?|parses?|checks?"
          r"|converts?|runs?|writes?|sends?|uploads?|downloads?|scans?|extracts?|renders?|retries|watches|posts?"
          r"|moves?)\b", 3.0),
    R(_I, r"(?:\bin|\busing|\bwith)\s+(?:python|typescript|javascript|go|golang|rust|java|kotlin|c\+\+|c#|swift|ruby"
          r"|bash|php|httpx|react|vue|django|fastapi|express|pydantic|asyncio)\b", 0.5),
    R(_I, r"implementier|schreib\w* (?:eine|einen|ein) (?:funktion|klasse|skript)|füge\b[^.?!\n]{0,80}hinzu|ersetze"
          r"|ändere|entferne|implémente|\bajoute"
          r"|écri(?:s|vez|re) une? (?:classe|fonction|méthode|script|requête|composant)"
          r"|\bcrée\b|fais en sorte|modifie|remplace|implementa (?:un|una|el|la|los|las)\b"
          r"|añade|agrega|\bcrea una? |haz que|implemente (?:um|uma|o|a|os|as)\b"
          r"|adicione|\bcrie\b|escreva uma função|faça (?:o|a|com que)|实现|帮我写|编写一个|写一个|添加|改成|改为"
          r"|convierte|converte|reescribe|reescreva|réécris|konvertiere|перепиши|преобразуй"
          r"|加上|実装|追加して|作成して|変更して|作って|реализуй|добавь|сделай так|измени|замени|удали"
          r"|напиши (?:на \w+ )?(?:функци|класс|скрипт)", 2.5),
    # --- general: greetings, one-line facts -----------------------------------------------------------------------
    R(_G, r"\A\W*(?:hi|hello|hey|yo|sup|lol|haha|good (?:morning|afternoon|evening)|thanks|thank you|bonjour|salut"
          r"|merci|hola|buenos días|hallo|guten (?:morgen|tag)|wie geht'?s|olá|oi|bom dia|boa tarde"
          r"|привет|здравствуй|спасибо)\b|\A\W*(?:你好|こんにちは|おはよう|ありがとう)", 3.0),
    R(_G, r"\A(?=[^\n]{0,90}\Z)\W*(?:what(?:'s| is| are| does| do| year| time)|who\b|when\b|which\b"
          r"|how (?:many|much|long|old|do (?:you|i) (?:pronounce|say|spell))|is \d+\b|translate ['\"‘“]|convert \d"
          r"|define|was (?:bedeutet|ist)|wie (?:spät|alt|viele)|qu'est-ce|que (?:veut|signifie)|qu[eé] (?:es|significa)"
          r"|cu[aá]l|qual|o que é|quelle heure|quel jour|什么|сколько|что такое|что значит)|とは|とは何", 1.5),
    R(_G, r"\A(?=[^\n]{0,80}\Z)\W*(?:what (?:does|do) [^?\n]{1,40} (?:mean|stand for)\b|what(?:'s| is) (?:a|an|the)?"
          r" ?[\w'-]+(?: [\w'-]+)?\??\Z|who (?:wrote|created|invented|made|founded)\b"
          r"|how do you (?:say|pronounce|spell)"
          r"|what(?:'s| is) the difference between\b[^\n]{0,40}\?\Z)", 1.0),
    R(_G, r"\b(?:in one (?:sentence|line|word)|one-liner|briefly|in short|just the name|in two sentences|eli5"
          r"|stand for|joke|fun fact|like i'?m five|in simple terms|простыми словами|tell me something"
          r"|interesting fact|history of)\b|什么的缩写|の略|开个玩笑", 1.5),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Branch:
    regex: re.Pattern[str] | _LineStart
    factors: frozenset[str] | None  # as _Rule.factors, for this alternative alone


@dataclass(frozen=True, slots=True)
class _Rule:
    role: str
    regex: re.Pattern[str] | _LineStart
    weight: float
    on_original: bool  # case-sensitive parts: matched against the original text, not the lower-cased one
    factors: frozenset[str] | None  # one of these substrings must occur for a match; None: always run
    # A long top-level alternation (the many-language cue lists) as its alternatives, each run only when the
    # prefilter saw its own necessary substring: `re` otherwise tries every alternative at every position.
    branches: tuple[_Branch, ...] | None = None

    def checks(self) -> tuple[_Branch, ...]:
        """The regexes that decide the rule (any one matching), each with the substrings that let it run."""
        return self.branches if self.branches is not None else (_Branch(self.regex, self.factors),)


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """A rule table compiled once, with a literal prefilter.

    Matching is done on the lower-cased text without IGNORECASE (several times faster in `re`); a pattern with
    upper-case literals or classes is compiled with IGNORECASE instead, and a case-sensitive rule, or one that
    switches case sensitivity on (`(?-i:...)`), sees the original text. Each rule whose regex implies a set of
    necessary literal substrings (a case-sensitive rule's lower-cased, as the prefilter reads the lowered text)
    is only run when the single-pass `prefilter` (an Aho-Corasick automaton: one pass over the text finds every
    listed substring, about ten times faster than a lookahead alternation in `re`) saw one of them, so cost
    grows with the text, not the table. The automaton maps each substring straight to the regexes it lets run:
    a prompt visits the few it contains, not every rule and alternative of the table.
    """

    rules: tuple[_Rule, ...]
    # Every rule's and alternative's necessary substrings, each with the (rule index, regex) pairs it lets run.
    prefilter: ahocorasick.Automaton | None
    always: tuple[tuple[int, re.Pattern[str]], ...]  # the regexes without necessary substrings


def _needs_ignorecase(tree: object) -> bool:
    """True when a parsed pattern has an upper-case literal or class member (so lower-casing the text is unsafe)."""
    for op, av in tree:  # type: ignore[attr-defined]
        if op in (_sre.LITERAL, _sre.NOT_LITERAL):
            if chr(av).lower() != chr(av):
                return True
        elif op is _sre.IN:
            for kind, value in av:
                if kind is _sre.LITERAL and chr(value).lower() != chr(value):
                    return True
                if kind is _sre.RANGE and any(chr(c).lower() != chr(c) for c in range(value[0], value[1] + 1)):
                    return True
        elif op is _sre.SUBPATTERN:
            if _needs_ignorecase(av[-1]):
                return True
        elif op is _sre.BRANCH:
            if any(_needs_ignorecase(alt) for alt in av[1]):
                return True
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT, _sre.ATOMIC_GROUP):
            if _needs_ignorecase(av[-1] if op is not _sre.ATOMIC_GROUP else av):
                return True
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            if _needs_ignorecase(av[1]):
                return True
    return False


def _necessary(tree: object) -> frozenset[str] | None:
    """Substrings one of which every match of the parsed pattern contains, or None when none can be derived."""
    best: frozenset[str] | None = None
    run: list[str] = []

    def consider(candidate: frozenset[str] | None) -> None:
        nonlocal best
        if not candidate:
            return
        quality = (min(map(_specificity, candidate)), -len(candidate))
        if best is None or quality > (min(map(_specificity, best)), -len(best)):
            best = candidate

    def flush() -> None:
        if run:
            consider(frozenset(["".join(run)]))
            run.clear()

    for op, av in tree:  # type: ignore[attr-defined]
        if op is _sre.LITERAL:
            run.append(chr(av))
            continue
        if op is _sre.BRANCH and run and all(alt and all(o is _sre.LITERAL for o, _ in alt) for alt in av[1]):
            # `re` factors a shared prefix out of an alternation ("gu(?:ía|ia)"): put it back.
            consider(frozenset("".join(run) + "".join(chr(c) for _, c in alt) for alt in av[1]))
            run.clear()
            continue
        flush()
        if op is _sre.SUBPATTERN:
            consider(_necessary(av[-1]))
        elif op is _sre.BRANCH:
            alternatives = [_necessary(alt) for alt in av[1]]
            if all(alternatives):
                consider(frozenset().union(*alternatives))  # type: ignore[arg-type]
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and av[0] >= 1:
            consider(_necessary(av[2]))
    flush()
    if best is not None and min(map(_specificity, best)) < _MIN_FACTOR:
        return None
    return best


def _specificity(factor: str) -> int:
    # A non-ASCII letter (an accent, CJK, Cyrillic) is rare in English text, so it narrows a search more.
    return sum(1 if ch.isascii() else 3 for ch in factor)


def _compile_rule(rule: PatternRule) -> _Rule:
    flags = re.MULTILINE
    if "(?-i:" in rule.pattern:
        return _Rule(rule.role, re.compile(rule.pattern, flags | re.IGNORECASE), rule.weight, True, None)
    try:
        tree = _parser.parse(rule.pattern, flags)
    except Exception:  # noqa: BLE001 - the analysis is an optimisation; re.compile below reports real errors
        tree = None
    if rule.case_sensitive:  # run on the original text; its necessary substrings, lower-cased, on the lowered one
        searcher = _searcher(_literal_first(rule.pattern, upper=True) or rule.pattern, flags)
        if tree is None:
            return _Rule(rule.role, searcher, rule.weight, True, None)
        return _Rule(rule.role, searcher, rule.weight, True, _lowered(_necessary(tree)),
                     _branches(rule.pattern, flags, upper=True))
    if tree is None or _needs_ignorecase(tree):
        return _Rule(rule.role, re.compile(rule.pattern, flags | re.IGNORECASE), rule.weight, False, None)
    return _Rule(rule.role, _searcher(_literal_first(rule.pattern) or rule.pattern, flags), rule.weight, False,
                 _necessary(tree), _branches(rule.pattern, flags))


def _lowered(factors: frozenset[str] | None) -> frozenset[str] | None:
    """Necessary substrings of the original text as the lowered text has them; ASCII only (lower-casing some
    other letters depends on their neighbours or changes their length)."""
    if factors is None or not all(factor.isascii() for factor in factors):
        return None
    return frozenset(factor.lower() for factor in factors)


class _LineStart:
    """`^X` (multi-line) as `X` matched at the start or `\\nX` searched: `re` tries a leading `^` at every
    position of the text, where it finds a leading literal (the newline) by a fast scan."""

    __slots__ = ("_first", "_later", "pattern")

    def __init__(self, pattern: str, flags: int) -> None:
        self.pattern = pattern
        rest = pattern[1:]
        self._first, self._later = re.compile(rest, flags), re.compile(f"\n(?:{rest})", flags)

    def search(self, text: str) -> re.Match[str] | None:
        return self._first.match(text) or self._later.search(text)


def _searcher(pattern: str, flags: int) -> re.Pattern[str] | _LineStart:
    """The compiled pattern; one anchored at a line start (with no top-level alternative) as a `_LineStart`."""
    if pattern.startswith("^") and flags & re.MULTILINE and len(_top_level_alternatives(pattern)) == 1:
        return _LineStart(pattern, flags)
    return re.compile(pattern, flags)


_SPLIT_MIN_ALTERNATIVES = 8  # below this, one regex is as fast as the loop over its alternatives
# Backreferences and conditionals count groups across alternatives; a leading global flag group ("(?x)",
# "(?s)") applies to every alternative: such a pattern is run whole.
_UNSPLITTABLE = re.compile(r"\\\d|\(\?P=|\(\?\(|\A\(\?[aiLmsux]+\)")


def _structure(pattern: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """(index, character, depth) of each character of `pattern` from `start` that is neither escaped nor in a
    character class; depth counts the groups open around it (a group's parentheses count as outside it)."""
    depth, i, in_class = 0, start, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            i += 1 + (pattern[i + 1:i + 2] == "^")
            i += pattern[i:i + 1] == "]"  # a `]` first in a class is a member
            continue
        else:
            depth -= ch == ")"
            yield i, ch, depth
            depth += ch == "("
        i += 1


def _top_level_alternatives(pattern: str) -> list[str]:
    """`pattern` cut at its top-level `|` (outside groups and character classes)."""
    cuts = [i for i, ch, depth in _structure(pattern) if ch == "|" and depth == 0]
    return [pattern[a + 1:b] for a, b in zip([-1, *cuts], [*cuts, len(pattern)], strict=True)]


def _group_end(pattern: str, start: int) -> int | None:
    """The index of the `)` closing the group whose body starts at `start`, or None when it is not closed."""
    return next((i for i, ch, depth in _structure(pattern, start) if ch == ")" and depth < 0), None)


_LEADING_GROUP = re.compile(r"(\\b|\^|\\A)?\(\?:")


def _distributed(alternative: str) -> list[str]:
    """An alternative that opens with a group of alternatives, `\\b(?:a|b)c`, as one alternative per member
    (`\\bac`, `\\bbc`): the same matches, and each member gets necessary substrings of its own."""
    opening = _LEADING_GROUP.match(alternative)
    close = _group_end(alternative, opening.end()) if opening else None
    if close is None or alternative[close + 1:close + 2] in ("?", "*", "+", "{"):
        return [alternative]
    members = _top_level_alternatives(alternative[opening.end():close])
    prefix, suffix = opening.group(1) or "", alternative[close + 1:]
    return [f"{prefix}{member}{suffix}" for member in members]


def _fully_distributed(alternative: str) -> list[str]:
    """`_distributed` again on each member that itself opens with a group (`\\b(?:x|(?:a|b)c)`), until none
    does."""
    members = _distributed(alternative)
    if members == [alternative]:
        return members
    return [leaf for member in members for leaf in _fully_distributed(member)]


# `\b` then plain lower-case characters: the literal a pattern can open with instead (see _literal_first); for a
# case-sensitive pattern, upper-case ones too.
_BOUNDARY_LITERAL = re.compile(r"\\b([a-z0-9_][a-z0-9_ ',:\-]*)")
_BOUNDARY_LITERAL_ANY_CASE = re.compile(r"\\b([A-Za-z0-9_][A-Za-z0-9_ ',:\-]*)")


def _literal_first(alternative: str, *, upper: bool = False) -> str | None:
    """`\\bword...` as `word(?<!\\wword)...`, or None when the alternative does not open that way.

    The same matches (a word boundary before a word character means no word character before it), but `re` finds
    a pattern that opens with a literal by a fast substring search, where a leading `\\b` is tried at every
    position of the text: on a short prompt about 0.5 instead of 8 microseconds per alternative."""
    opening = (_BOUNDARY_LITERAL_ANY_CASE if upper else _BOUNDARY_LITERAL).match(alternative)
    if opening is None:
        return None
    literal, rest = opening.group(1), alternative[opening.end():]
    if rest[:1] in ("?", "*", "+", "{"):  # the quantifier takes the literal's last character
        literal, rest = literal[:-1], literal[-1] + rest
    if len(literal) < (1 if literal.isupper() else 2):  # one capital letter is rare enough to scan for
        return None
    return f"{literal}(?<!\\w{re.escape(literal)}){rest}"


def _branches(pattern: str, flags: int, *, upper: bool = False) -> tuple[_Branch, ...] | None:
    """The alternatives of an alternation (top-level, and those of the groups an alternative opens with), each with
    its necessary substrings, opening with a literal (or a line start) where it can; those with neither are kept
    together in one regex that always runs. None when splitting is not safe or not worth it. `upper`: a
    case-sensitive pattern (literals of either case; substrings lowered for the prefilter)."""
    alternatives = [member for alternative in _top_level_alternatives(pattern)
                    for member in _fully_distributed(alternative)]
    if len(alternatives) < 2 or _UNSPLITTABLE.search(pattern):
        return None  # alternatives that depend on each other (see _UNSPLITTABLE)
    branches: list[_Branch] = []
    always: list[str] = []
    for alternative in alternatives:
        factors = _necessary(_parser.parse(alternative, flags))
        if upper:
            factors = _lowered(factors)
        anchored = _literal_first(alternative, upper=upper)
        if anchored is None and alternative.startswith("^"):
            anchored = alternative  # a line start: _searcher makes it a newline scan
        if factors is None and anchored is None:
            always.append(alternative)
        else:
            branches.append(_Branch(_searcher(anchored or alternative, flags), factors))
    if len(always) == len(alternatives) and len(alternatives) < _SPLIT_MIN_ALTERNATIVES:
        return None  # nothing to skip, nothing to anchor: one regex is as fast
    if always:
        branches.append(_Branch(re.compile("|".join(f"(?:{a})" for a in always), flags), None))
    return tuple(branches)


@lru_cache(maxsize=8)
def _compile_cached(rules: tuple[PatternRule, ...]) -> CompiledRules:
    compiled = tuple(_compile_rule(r) for r in rules)
    triggers: dict[str, list[tuple[int, re.Pattern[str]]]] = {}
    always = []
    for index, rule in enumerate(compiled):
        for check in rule.checks():
            if check.factors is None:
                always.append((index, check.regex))
            for factor in check.factors or ():
                triggers.setdefault(factor, []).append((index, check.regex))
    prefilter = None
    if triggers:
        prefilter = ahocorasick.Automaton()
        for word, checks in sorted(triggers.items()):
            prefilter.add_word(word, tuple(checks))
        prefilter.make_automaton()
    return CompiledRules(compiled, prefilter, tuple(always))


def compile_rules(rules: Sequence[PatternRule]) -> CompiledRules:
    """Compile (and cache) a rule table. Raises re.error on a bad pattern, ValueError on an unknown role."""
    unknown = {r.role for r in rules} - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) in rule table: {sorted(unknown)}")
    return _compile_cached(tuple(rules))


@lru_cache(maxsize=1)
def default_table() -> CompiledRules:
    """`DEFAULT_RULES`, compiled on first use."""
    return compile_rules(DEFAULT_RULES)


def _shorten_fence(match: re.Match[str]) -> str:
    lines = match.group(3).splitlines()
    if len(lines) <= _FENCE_KEEP_HEAD + _FENCE_KEEP_TAIL + 1:
        return match.group(0)
    kept = [*lines[:_FENCE_KEEP_HEAD], "...", *lines[-_FENCE_KEEP_TAIL:]]
    return f"{match.group(1)}{match.group(2)}\n" + "\n".join(kept) + f"\n{match.group(1)}"


def clip(text: str) -> str:
    """The part of a text worth scanning: long code blocks cut to their ends, then the head and tail of the rest.

    Cost then depends on how much the person wrote, not on how much they pasted.
    """
    if "```" in text or "~~~" in text:
        text = _FENCED_RE.sub(_shorten_fence, text)
    if len(text) <= _HEAD_CHARS + _TAIL_CHARS:
        return text
    return text[:_HEAD_CHARS] + "\n" + text[-_TAIL_CHARS:]


def score(
    text: str,
    rules: Sequence[PatternRule] | CompiledRules | None = None,
    *,
    min_score: float = DEFAULT_MIN_SCORE,
    margin: float = DEFAULT_MARGIN,
) -> FastPathResult:
    """Score `text` against `rules` (default `DEFAULT_RULES`); `role` is set only for a confident winner."""
    if rules is None:
        table = default_table()
    elif isinstance(rules, CompiledRules):
        table = rules
    else:
        table = compile_rules(rules)
    text = clip(text)
    lowered = text.lower()
    checks = list(table.always)
    if table.prefilter is not None:  # each substring found once or more lets its regexes run once
        checks += chain.from_iterable({id(found): found for _, found in table.prefilter.iter(lowered)}.values())
    matched: set[int] = set()
    tried: set[int] = set()  # ids of the regexes run: several substrings may let the same one run
    for index, regex in checks:
        if index in matched or id(regex) in tried:
            continue
        tried.add(id(regex))
        if regex.search(text if table.rules[index].on_original else lowered) is not None:
            matched.add(index)
    hits = sorted(matched)
    scores = dict.fromkeys(ROLES, 0.0)
    for index in hits:
        scores[table.rules[index].role] += table.rules[index].weight
    ranked = sorted(scores.values(), reverse=True)
    top, second = ranked[0], ranked[1]
    best = max(scores, key=scores.__getitem__)
    if top >= min_score and top - second >= margin:
        confidence = min(0.99, 0.5 + (top - second) / (2.0 * (top + 1.0)))
        return FastPathResult(scores, best, round(confidence, 3), tuple(hits))
    return FastPathResult(scores, None, 0.0, tuple(hits))
