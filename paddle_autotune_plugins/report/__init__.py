"""Reading a finished or running study: the HTML report, its plots, the dashboard.

Works on any study the coordinator wrote (finished, interrupted or still running)::

    from paddle_autotune_plugins.report.html_page import write_report
    from paddle_autotune_plugins.report.load import load_study
    from paddle_autotune_plugins.report.trials_table import trials_table
    from paddle_autotune_plugins.report.visualdl_export import log_to_visualdl
    study = load_study("tune_resnet18")                # tune_resnet18/study.db, study 'autotune'
    print("\\n".join(trials_table(study)))              # best first
    write_report(study, "tune_resnet18")               # tune_resnet18/report.html + report/*.png
    log_to_visualdl(study, "tune_resnet18/vdl")        # then: visualdl --logdir tune_resnet18/vdl

The storage is plain Optuna: ``paddle-autotune dashboard --out tune_resnet18`` opens it in optuna-dashboard.
"""
