"""Plan reports: ``report.html`` (:mod:`.html`, Jinja2 template in ``templates/``), the plots
(:mod:`.plots`), the topology drawing (:mod:`.topology`), the findings (:mod:`.findings`) and
``summary.json`` (:mod:`.summary_json`)."""
