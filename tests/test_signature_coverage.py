# ruff: noqa: E501  (the registry below is a table of test ids, one per line)
"""Every result-changing argument of the core public API is exercised by a value test.

The test walks the signatures of the public functions, classes and methods of
``stochrobust.sensitivity``, ``.smoothing``, ``.metrics``, ``.consistency``,
``.estimator`` and ``.nets``. Every parameter with a default must appear either in
``COVERED`` — the test that passes it a non-default value and checks the *value* of the
result against an independent oracle — or in ``NOT_RESULT_CHANGING`` with the reason.
A new argument therefore fails this test until someone names its value test (issue #20).
The named test must exist and mention the argument (as a keyword, a parametrised
variable or, for the ball, the test file's ``BALL_KW`` indirection).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = (
    "stochrobust.sensitivity",
    "stochrobust.smoothing",
    "stochrobust.metrics",
    "stochrobust.consistency",
    "stochrobust.estimator",
    "stochrobust.nets",
    "stochrobust.memory",
)

SOL = "tests/sensitivity/test_solver_oracles.py"
SOPT = "tests/sensitivity/test_option_oracles.py"
SM = "tests/smoothing/test_option_oracles.py"
OPT = "tests/test_options_oracles.py"
PROT = "tests/sensitivity/test_protocol.py"
POPT = "tests/sensitivity/test_protocol_options.py"
LIP = "tests/sensitivity/test_lipschitz.py"
EXP = "tests/sensitivity/test_explore.py"
STR = "tests/metrics/test_streaming.py"
DC = "tests/metrics/test_density_coverage.py"
JNT = "tests/metrics/test_joint.py"

COVERED: dict[str, str] = {
    # ------------------------------------------------------------------ memory (issue 21)
    "sensitivity.RobustnessRegularizer.backward.weight": "tests/sensitivity/test_chunked.py::test_regularizer_backward_equals_forward_backward",
    "sensitivity.RobustnessRegularizer.backward.generator": "tests/sensitivity/test_chunked.py::test_regularizer_backward_equals_forward_backward",
    "memory.IterativeSampler.__init__.init": "tests/test_memory.py::test_sampler_is_the_unrolled_loop",
    "memory.IterativeSampler.__init__.checkpoint": "tests/test_memory.py::test_checkpointed_gradient_equals_plain_and_saves_fewer_tensors",
    "memory.IterativeSampler.estimator.max_batch": "tests/test_memory.py::test_attack_on_sampler_checkpointed_and_chunked_matches_plain",
    "memory.max_batch_for.fraction": "tests/test_memory.py::test_max_batch_for_arithmetic",
    "memory.auto_max_batch.fraction": "tests/test_memory.py::test_auto_max_batch_with_mocked_cuda",
    "memory.auto_max_batch.probe_rows": "tests/test_memory.py::test_auto_max_batch_with_mocked_cuda",
    # ------------------------------------------------------------------ solvers
    "sensitivity.BIM.__init__.steps": f"{SOL}::test_random_start_false_starts_at_zero",
    "sensitivity.BIM.__init__.restarts": f"{SOL}::test_restarts_keep_the_best_run_and_help_on_multimodal_problems",
    "sensitivity.BIM.__init__.random_start": f"{SOL}::test_random_start_false_starts_at_zero",
    "sensitivity.CW.__init__.steps": f"{SOL}::test_cw_respects_a_binding_box_and_finds_its_corner",
    "sensitivity.CW.__init__.lr": f"{SOL}::test_solver_reaches_the_closed_form_optimum",
    "sensitivity.CW.__init__.c": f"{SOL}::test_solver_reaches_the_closed_form_optimum",
    "sensitivity.CW.__init__.restarts": f"{SOL}::test_restarts_keep_the_best_run_and_help_on_multimodal_problems",
    "sensitivity.CW.__init__.random_start": f"{SOL}::test_random_start_false_starts_at_zero",
    "sensitivity.FGSM.__init__.step_size": f"{SOL}::test_solver_reaches_the_closed_form_optimum",
    "sensitivity.FGSM.__init__.restarts": f"{SOL}::test_restarts_keep_the_best_run_and_help_on_multimodal_problems",
    "sensitivity.FGSM.__init__.random_start": f"{SOL}::test_random_start_false_starts_at_zero",
    "sensitivity.PGD.__init__.steps": f"{SOL}::test_pgd_is_the_documented_heavy_ball_iteration",
    "sensitivity.PGD.__init__.step_size": f"{SOL}::test_pgd_is_the_documented_heavy_ball_iteration",
    "sensitivity.PGD.__init__.momentum": f"{SOL}::test_pgd_is_the_documented_heavy_ball_iteration",
    "sensitivity.PGD.__init__.restarts": f"{SOL}::test_restarts_keep_the_best_run_and_help_on_multimodal_problems",
    "sensitivity.PGD.__init__.random_start": f"{SOL}::test_pgd_is_the_documented_heavy_ball_iteration",
    "sensitivity.PGD.__init__.l1_topk": f"{SOL}::test_solver_reaches_the_closed_form_optimum",
    "sensitivity.PGD.__init__.mirror": "tests/sensitivity/test_solvers.py::test_pgd_mirror_finds_the_larger_side_of_an_asymmetric_1d_objective",
    "sensitivity.AdamAscent.__init__.steps": f"{SOL}::test_adam_ascent_is_torch_adam_with_projection",
    "sensitivity.AdamAscent.__init__.lr": f"{SOL}::test_adam_ascent_is_torch_adam_with_projection",
    "sensitivity.AdamAscent.__init__.betas": f"{SOL}::test_adam_ascent_is_torch_adam_with_projection",
    "sensitivity.AdamAscent.__init__.adam_eps": f"{SOL}::test_adam_ascent_is_torch_adam_with_projection",
    "sensitivity.AdamAscent.__init__.restarts": f"{SOL}::test_restarts_keep_the_best_run_and_help_on_multimodal_problems",
    "sensitivity.AdamAscent.__init__.random_start": f"{SOL}::test_adam_ascent_is_torch_adam_with_projection",
    "sensitivity.RestartSolver.__init__.restarts": f"{SOL}::test_restarts_keep_the_best_run_and_help_on_multimodal_problems",
    "sensitivity.RestartSolver.__init__.random_start": f"{SOL}::test_random_start_false_starts_at_zero",
    "sensitivity.APGD.__init__.steps": f"{PROT}::test_l2_oracle_sigma_max",
    "sensitivity.APGD.__init__.eta": f"{POPT}::test_apgd_eta_is_the_first_step_in_radii",
    "sensitivity.APGD.__init__.alpha": f"{POPT}::test_apgd_alpha_weighs_the_new_step_against_the_last",
    "sensitivity.APGD.__init__.rho": f"{POPT}::test_apgd_rho_is_the_success_fraction_of_condition_1",
    "sensitivity.APGD.__init__.l1_topk": f"{POPT}::test_apgd_l1_topk_splits_the_step_over_the_top_coordinates",
    "sensitivity.APGD.__init__.mirror": f"{PROT}::test_apgd_halves_the_step_when_stalled",
    "sensitivity.APGD.__init__.restarts": f"{SOL}::test_restarts_keep_the_best_run_and_help_on_multimodal_problems",
    "sensitivity.APGD.__init__.random_start": f"{SOL}::test_random_start_false_starts_at_zero",
    "sensitivity.CW.__init__.betas": f"{SOL}::test_solver_reaches_the_closed_form_optimum",
    "sensitivity.Protocol.__init__.budget": f"{PROT}::test_protocol_spends_exactly_its_budget",
    "sensitivity.Protocol.__init__.eta": f"{PROT}::test_a_run_still_climbing_is_flagged_not_converged",
    "sensitivity.Protocol.__init__.l1_topk": f"{POPT}::test_l1_topk_dense_steps_stall_off_the_optimal_vertex",
    "sensitivity.Protocol.plan.size": f"{PROT}::test_protocol_spends_exactly_its_budget",
    "sensitivity.Protocol.plan.ball": f"{PROT}::test_protocol_spends_exactly_its_budget",
    "sensitivity.make_solver.name": f"{PROT}::test_make_solver",
    "sensitivity.make_solver.budget": f"{PROT}::test_make_solver",
    "sensitivity.make_solver.steps": f"{PROT}::test_make_solver",
    "sensitivity.make_solver.restarts": f"{PROT}::test_make_solver",
    "sensitivity.default_solver.budget": f"{POPT}::test_default_solver_budget_spends_that_budget",
    "sensitivity.Diagnostics.from_history.tol": f"{POPT}::test_diagnostics_tol_is_the_agreement_tolerance",
    "sensitivity.Problem.start.generator": f"{POPT}::test_problem_start_random_false_is_zero_and_finish_takes_start_values",
    "sensitivity.Problem.start.random": f"{POPT}::test_problem_start_random_false_is_zero_and_finish_takes_start_values",
    "sensitivity.Problem.finish.start_values": f"{POPT}::test_problem_start_random_false_is_zero_and_finish_takes_start_values",
    "sensitivity.Solver.maximize.validate_args": f"{POPT}::test_validate_args_false_gives_the_validated_result",
    "sensitivity.Solver.maximize.ball": f"{SOL}::test_random_start_false_starts_at_zero",
    "sensitivity.Solver.maximize.box": "tests/sensitivity/test_solvers.py::test_every_solver_respects_ball_and_box",
    "sensitivity.Solver.maximize.generator": "tests/sensitivity/test_solvers.py::test_value_is_the_objective_at_delta_and_reproducible",
    "sensitivity.default_solver.ball": "tests/sensitivity/test_sensitivity.py::test_l1_oracle_general_matrix_default_solver",
    # ------------------------------------------------------------------ measurements
    "sensitivity.sensitivity_at.ball": f"{SOPT}::test_per_sample_eps_scales_each_row",
    "sensitivity.sensitivity_at.n_seeds": f"{SOPT}::test_n_seeds_is_the_number_of_seeds_averaged",
    "sensitivity.sensitivity_at.solver": f"{SOL}::test_cw_respects_a_binding_box_and_finds_its_corner",
    "sensitivity.sensitivity_at.generator": "tests/sensitivity/test_sensitivity.py::test_same_generator_same_result_bit_for_bit",
    "sensitivity.sensitivity_at.box": f"{SOPT}::test_binding_box_caps_each_coordinate",
    "sensitivity.sensitivity_at.data_range": f"{SOPT}::test_sensitivity_psnrs_use_data_range",
    "sensitivity.w2_sensitivity_at.ball": f"{SOPT}::test_box_reaches_robustness_and_w2",
    "sensitivity.w2_sensitivity_at.n_seeds": f"{SOPT}::test_w2_same_seeds_false_uses_fresh_seeds_for_the_perturbed_cloud",
    "sensitivity.w2_sensitivity_at.solver": f"{SOPT}::test_w2_same_seeds_true_is_the_translation_closed_form",
    "sensitivity.w2_sensitivity_at.generator": f"{SOPT}::test_w2_same_seeds_false_uses_fresh_seeds_for_the_perturbed_cloud",
    "sensitivity.w2_sensitivity_at.box": f"{SOPT}::test_box_reaches_robustness_and_w2",
    "sensitivity.w2_sensitivity_at.same_seeds": f"{SOPT}::test_w2_same_seeds_false_uses_fresh_seeds_for_the_perturbed_cloud",
    "sensitivity.local_lipschitz.ball": f"{SOPT}::test_local_lipschitz_is_the_ratio_at_the_returned_delta",
    "sensitivity.local_lipschitz.n_seeds": f"{SOPT}::test_local_lipschitz_of_a_stochastic_model_is_the_rms_over_replayed_seeds",
    "sensitivity.local_lipschitz.solver": f"{SOPT}::test_local_lipschitz_is_the_ratio_at_the_returned_delta",
    "sensitivity.local_lipschitz.generator": f"{SOPT}::test_local_lipschitz_is_the_ratio_at_the_returned_delta",
    "sensitivity.local_lipschitz.box": f"{SOPT}::test_local_lipschitz_of_a_stochastic_model_is_the_rms_over_replayed_seeds",
    "sensitivity.robustness.ball": f"{SOPT}::test_box_reaches_robustness_and_w2",
    "sensitivity.robustness.n_seeds": f"{SOPT}::test_robustness_options_batch_size_confidence_and_n_seeds",
    "sensitivity.robustness.solver": f"{SOPT}::test_robustness_options_batch_size_confidence_and_n_seeds",
    "sensitivity.robustness.generator": "tests/sensitivity/test_robustness.py::test_tensor_iterable_and_dataloader_give_the_same_report",
    "sensitivity.robustness.box": f"{SOPT}::test_box_reaches_robustness_and_w2",
    "sensitivity.robustness.batch_size": f"{SOPT}::test_robustness_options_batch_size_confidence_and_n_seeds",
    "sensitivity.robustness.confidence": f"{SOPT}::test_robustness_options_batch_size_confidence_and_n_seeds",
    "sensitivity.robustness.data_range": "tests/test_checks.py::test_psnr_fields_are_detached_and_follow_data_range",
    "sensitivity.explore.ball": f"{POPT}::test_explore_linf_ball_closed_form",
    "sensitivity.explore.box": f"{POPT}::test_explore_box_cuts_the_ball",
    "sensitivity.explore.op": f"{EXP}::test_consistency_projection_fused_calls_and_model_hygiene",
    "sensitivity.explore.solver": f"{EXP}::test_consistency_projection_fused_calls_and_model_hygiene",
    "sensitivity.explore.generator": f"{EXP}::test_exploration_is_deterministic_given_the_generator",
    "sensitivity.lipschitz_lower_bound.ball": f"{POPT}::test_lipschitz_ball_shells_and_solver_keep_sigma_max",
    "sensitivity.lipschitz_lower_bound.shells": f"{POPT}::test_lipschitz_shells_reach_a_slope_concentrated_near_y",
    "sensitivity.lipschitz_lower_bound.solver": f"{POPT}::test_lipschitz_ball_shells_and_solver_keep_sigma_max",
    "sensitivity.lipschitz_lower_bound.n_seeds": f"{LIP}::test_stochastic_estimator_bound_is_the_seed_rms_ratio",
    "sensitivity.lipschitz_lower_bound.generator": f"{LIP}::test_stochastic_estimator_bound_is_the_seed_rms_ratio",
    "sensitivity.lipschitz_lower_bound.box": f"{LIP}::test_disk_sweep_bound_grows_as_joint_index_shrinks",
    "sensitivity.lipschitz_lower_bound.batch_size": f"{LIP}::test_iterable_data_and_determinism",
    "sensitivity.tradeoff_bound.m2": f"{LIP}::test_tradeoff_bound_form_and_validation",
    "sensitivity.RobustnessRegularizer.__init__.n_seeds": "tests/sensitivity/test_regularizer.py::test_gradients_reach_the_parameters_and_the_state_is_unchanged",
    "sensitivity.RobustnessRegularizer.__init__.solver": "tests/sensitivity/test_regularizer.py::test_loss_is_eq7_at_the_attack_and_differentiable_through_both_passes",
    "sensitivity.RobustnessRegularizer.__init__.every": "tests/sensitivity/test_regularizer.py::test_every_third_call_applies_and_skipped_calls_do_not_touch_the_model",
    "sensitivity.RobustnessRegularizer.__init__.ball": f"{OPT}::test_regularizer_ball_box_and_generator",
    "sensitivity.RobustnessRegularizer.__init__.box": f"{OPT}::test_regularizer_ball_box_and_generator",
    "sensitivity.RobustnessRegularizer.__init__.reduction": "tests/sensitivity/test_regularizer.py::test_mean_reduction_divides_eq6_by_the_output_size",
    "sensitivity.RobustnessAggregator.__init__.eps": "tests/sensitivity/test_aggregate.py::test_eps_zero_and_varying_radii",
    "sensitivity.RobustnessAggregator.__init__.ball": "tests/sensitivity/test_aggregate.py::test_errors_name_the_argument",
    "sensitivity.RobustnessAggregator.__init__.n_seeds": "tests/sensitivity/test_aggregate.py::test_report_equals_the_textbook_statistics_of_the_values",
    "sensitivity.RobustnessAggregator.__init__.solver": "tests/sensitivity/test_aggregate.py::test_linear_model_closed_form",
    "sensitivity.RobustnessAggregator.__init__.generator": "tests/sensitivity/test_aggregate.py::test_attack_path_equals_results_added_by_hand",
    "sensitivity.RobustnessAggregator.__init__.box": "tests/sensitivity/test_aggregate.py::test_attack_path_equals_results_added_by_hand",
    "sensitivity.RobustnessAggregator.__init__.data_range": "tests/sensitivity/test_aggregate.py::test_data_range_and_warn_options",
    "sensitivity.RobustnessAggregator.__init__.warn": "tests/sensitivity/test_aggregate.py::test_data_range_and_warn_options",
    "sensitivity.RobustnessAggregator.__init__.confidence": "tests/sensitivity/test_aggregate.py::test_errors_name_the_argument",
    "sensitivity.RobustnessReport.__init__.total_evaluations": "tests/sensitivity/test_aggregate.py::test_diagnostics_are_carried_totals_and_fractions",
    "sensitivity.RobustnessAggregator.update.y": "tests/sensitivity/test_aggregate.py::test_linear_model_closed_form",
    "sensitivity.RobustnessRegularizer.paper_toy.eps": f"{OPT}::test_regularizer_paper_toy_radius",
    "sensitivity.RobustnessRegularizer.reset.step_count": "tests/sensitivity/test_regularizer.py::test_every_third_call_applies_and_skipped_calls_do_not_touch_the_model",
    "sensitivity.RobustnessRegularizer.forward.generator": f"{OPT}::test_regularizer_ball_box_and_generator",
    # ------------------------------------------------------------------ projections, budgets
    "sensitivity.project.ball": f"{POPT}::test_deprecated_project_is_project_ball",
    "sensitivity.project.check": f"{OPT}::test_unchecked_ball_projections_equal_the_checked_ones",
    "sensitivity.project_l1.check": f"{OPT}::test_unchecked_ball_projections_equal_the_checked_ones",
    "sensitivity.project_l2.check": f"{OPT}::test_unchecked_ball_projections_equal_the_checked_ones",
    "sensitivity.project_linf.check": f"{OPT}::test_unchecked_ball_projections_equal_the_checked_ones",
    "sensitivity.project_ball.ball": "tests/sensitivity/test_projections.py::test_projection_lands_in_ball_is_idempotent_and_keeps_interior",
    "sensitivity.project_ball.check": "tests/sensitivity/test_projections.py::test_per_sample_eps_and_unchecked_path_agree",
    "sensitivity.clip_box.box": f"{OPT}::test_clip_box_uses_the_given_box",
    "sensitivity.eps_for_psnr.per_sample": "tests/sensitivity/test_budget.py::test_a_batch_shape_is_never_folded_into_eps_silently",
    "sensitivity.psnr_for_eps.per_sample": f"{POPT}::test_psnr_for_eps_per_sample_chooses_the_pixel_count",
    "sensitivity.eps_for_psnr.data_range": f"{OPT}::test_budget_data_range_scales_the_radius",
    "sensitivity.psnr_for_eps.data_range": f"{OPT}::test_budget_data_range_scales_the_radius",
    # ------------------------------------------------------------------ smoothing
    "smoothing.MedianSmoothing.__init__.n_samples": f"{SM}::test_median_smoothing_module_honours_max_batch_clip_and_n_samples",
    "smoothing.MedianSmoothing.__init__.max_batch": f"{SM}::test_median_smoothing_module_honours_max_batch_clip_and_n_samples",
    "smoothing.MedianSmoothing.__init__.box": f"{SM}::test_median_smoothing_module_honours_max_batch_clip_and_n_samples",
    "smoothing.MedianSmoothing.forward.generator": f"{SM}::test_median_smoothing_module_honours_max_batch_clip_and_n_samples",
    "smoothing.MedianSmoothing.sample.n_samples": f"{SM}::test_median_smoothing_module_honours_max_batch_clip_and_n_samples",
    "smoothing.MedianSmoothing.sample.generator": f"{SM}::test_median_smoothing_module_honours_max_batch_clip_and_n_samples",
    "smoothing.MedianSmoothing.percentile.n_samples": f"{SM}::test_median_smoothing_module_honours_max_batch_clip_and_n_samples",
    "smoothing.MedianSmoothing.percentile.generator": f"{SM}::test_median_smoothing_module_honours_max_batch_clip_and_n_samples",
    "smoothing.MedianSmoothing.certify.n_samples": f"{SM}::test_median_smoothing_module_honours_max_batch_clip_and_n_samples",
    "smoothing.MedianSmoothing.certify.alpha": f"{SM}::test_median_smoothing_module_honours_max_batch_clip_and_n_samples",
    "smoothing.MedianSmoothing.certify.simultaneous": f"{SM}::test_median_smoothing_module_honours_max_batch_clip_and_n_samples",
    "smoothing.MedianSmoothing.certify.p": f"{SM}::test_median_smoothing_module_honours_max_batch_clip_and_n_samples",
    "smoothing.MedianSmoothing.certify.generator": f"{SM}::test_median_smoothing_module_honours_max_batch_clip_and_n_samples",
    "smoothing.certified_indices.p": "tests/smoothing/test_certificates.py::test_indices_match_brute_force_scan",
    "smoothing.certified_radius.p": "tests/smoothing/test_certificates.py::test_certified_radius_is_the_boundary",
    "smoothing.certify_percentile.n_samples": f"{SM}::test_certificate_median_and_bounds_are_the_order_statistics_for_p",
    "smoothing.certify_percentile.alpha": f"{SM}::test_certificate_median_and_bounds_are_the_order_statistics_for_p",
    "smoothing.certify_percentile.p": f"{SM}::test_certificate_median_and_bounds_are_the_order_statistics_for_p",
    "smoothing.certify_percentile.simultaneous": f"{SM}::test_simultaneous_certificate_splits_alpha_over_coordinates_and_sides",
    "smoothing.certify_percentile.generator": f"{SM}::test_certificate_median_and_bounds_are_the_order_statistics_for_p",
    "smoothing.certify_percentile.max_batch": f"{SM}::test_max_batch_bounds_every_model_call",
    "smoothing.certify_percentile.box": "tests/smoothing/test_certify.py::test_clipping_commutes_with_the_certificate",
    "smoothing.median_aggregate.num_groups": "tests/smoothing/test_augment.py::test_median_aggregate_num_groups_and_errors",
    "smoothing.noise_augment.sigmas": f"{OPT}::test_noise_augment_levels_are_the_sigmas",
    "smoothing.noise_augment.generator": f"{OPT}::test_noise_augment_levels_are_the_sigmas",
    "smoothing.percentile_index.p": "tests/smoothing/test_certificates.py::test_percentile_index_matches_numpy_inverted_cdf",
    "smoothing.sample_noisy_outputs.generator": "tests/smoothing/test_sampling.py::test_fused_equals_loop_and_uses_exactly_n_samples",
    "smoothing.sample_noisy_outputs.max_batch": "tests/smoothing/test_sampling.py::test_fused_equals_loop_and_uses_exactly_n_samples",
    "smoothing.sample_noisy_outputs.box": f"{SM}::test_clip_clamps_every_output_before_the_percentile",
    "smoothing.smoothed_percentile.p": f"{SM}::test_smoothed_percentile_is_the_order_statistic_for_p",
    "smoothing.smoothed_percentile.n_samples": f"{SM}::test_smoothed_percentile_is_the_order_statistic_for_p",
    "smoothing.smoothed_percentile.generator": f"{SM}::test_smoothed_percentile_is_the_order_statistic_for_p",
    "smoothing.smoothed_percentile.max_batch": f"{SM}::test_max_batch_bounds_every_model_call",
    "smoothing.smoothed_percentile.box": f"{SM}::test_clip_clamps_every_output_before_the_percentile",
    # ------------------------------------------------------------------ metrics
    "metrics.chan_merge.outer": f"{STR}::test_chan_merge_equals_two_pass_moments",
    "metrics.PixelStdState.__init__.unbiased": f"{STR}::test_pixel_std_streamed_over_seed_chunks",
    "metrics.FrechetState.update.feats_a": f"{STR}::test_frechet_state_equals_function",
    "metrics.FrechetState.update.feats_b": f"{STR}::test_frechet_state_equals_function",
    "metrics.PSNRState.__init__.data_range": f"{STR}::test_psnr_and_ssim_states_use_data_range",
    "metrics.SSIMState.__init__.data_range": f"{STR}::test_psnr_and_ssim_states_use_data_range",
    "metrics.PRDCState.update.real": f"{STR}::test_prdc_state_equals_function",
    "metrics.PRDCState.update.fake": f"{STR}::test_prdc_state_equals_function",
    **{
        f"metrics.{fn}.{arg}": f"{DC}::test_k_block_size_and_chunk_rows_of_every_entry_point"
        for fn, args in (
            ("PRDCState.__init__", ("k", "block_size", "chunk_rows")),
            ("sharded_prdc", ("k", "block_size", "chunk_rows")),
            ("prdc", ("block_size", "chunk_rows")),
            ("density_coverage", ("k", "block_size")),
        )
        for arg in args
    },
    "metrics.prdc.k": f"{DC}::test_prdc_equals_brute_force_with_ties",
    "metrics.joint_perceptual_index_gaussian.squared": f"{JNT}::test_gaussian_index_is_exact_for_a_shift_and_squared_is_its_square",
    "metrics.joint_perceptual_index_sliced.n_projections": f"{JNT}::test_sliced_index_of_a_shift_matches_its_expectation",
    "metrics.joint_perceptual_index_sliced.squared": f"{JNT}::test_sliced_index_of_a_shift_matches_its_expectation",
    "metrics.joint_perceptual_index_sliced.generator": f"{JNT}::test_sliced_is_deterministic_differentiable_and_validated",
    "metrics.dataset_per_pixel_std.n_seeds": "tests/metrics/test_diversity.py::test_dataset_std_matches_the_noise_level",
    "metrics.dataset_per_pixel_std.batch_size": "tests/metrics/test_diversity.py::test_dataset_std_equals_per_batch_computation",
    "metrics.dataset_per_pixel_std.generator": "tests/metrics/test_diversity.py::test_dataset_std_equals_per_batch_computation",
    "metrics.dataset_per_pixel_std.unbiased": f"{OPT}::test_dataset_std_unbiased_flag_is_bessels_factor",
    "metrics.fid_from_features.batch_size": "tests/metrics/test_frechet.py::test_fid_from_features_equals_frechet_of_features",
    "metrics.gaussian_w2.squared": "tests/metrics/test_frechet.py::test_one_dimensional_closed_form",
    "metrics.joint_perceptual_index.squared": f"{OPT}::test_joint_perceptual_index_squared_is_the_square",
    "metrics.manifold_radii.k": "tests/metrics/test_precision_recall.py::test_equals_dense_brute_force",
    "metrics.manifold_radii.block_size": "tests/metrics/test_precision_recall.py::test_block_size_does_not_change_the_result",
    "metrics.per_pixel_std.unbiased": "tests/metrics/test_diversity.py::test_per_pixel_std_closed_form",
    "metrics.precision_recall.k": "tests/metrics/test_precision_recall.py::test_equals_dense_brute_force",
    "metrics.precision_recall.block_size": "tests/metrics/test_precision_recall.py::test_block_size_does_not_change_the_result",
    "metrics.psnr.data_range": "tests/metrics/test_quality.py::test_psnr_closed_form",
    "metrics.realism_score.k": "tests/metrics/test_precision_recall.py::test_realism_equals_brute_force",
    "metrics.realism_score.block_size": "tests/metrics/test_precision_recall.py::test_realism_equals_brute_force",
    "metrics.realism_score.keep_fraction": "tests/metrics/test_precision_recall.py::test_realism_equals_brute_force",
    "metrics.ssim.data_range": "tests/metrics/test_option_oracles.py::test_ssim_window_options_match_the_reference",
    "metrics.ssim.kernel_size": "tests/metrics/test_option_oracles.py::test_ssim_window_options_match_the_reference",
    "metrics.ssim.kernel_sigma": "tests/metrics/test_option_oracles.py::test_ssim_window_options_match_the_reference",
    "metrics.ssim.downsample": "tests/metrics/test_option_oracles.py::test_ssim_downsample_of_large_images",
    "metrics.w2_empirical.weights_a": "tests/metrics/test_wasserstein.py::test_weighted_equals_independent_lp",
    "metrics.w2_empirical.weights_b": "tests/metrics/test_wasserstein.py::test_weighted_equals_independent_lp",
    "metrics.w2_empirical.squared": "tests/metrics/test_wasserstein.py::test_weighted_equals_independent_lp",
    # ------------------------------------------------------------------ consistency
    "consistency.BlurDownsample.__init__.reg": "tests/consistency/test_blur.py::test_tikhonov_regulariser_matches_the_dense_formula",
    "consistency.BlurDownsample.__init__.rtol": "tests/consistency/test_blur.py::test_rank_deficient_kernel_gives_the_moore_penrose_projection",
    "consistency.BlurDownsample.eigenvalues.dtype": f"{OPT}::test_blur_eigenvalues_in_float32_match_float64",
    "consistency.Colorization.__init__.weights": f"{OPT}::test_colorization_weights_define_the_operator",
    "consistency.Consistent.__init__.upsample": "tests/consistency/test_projection.py::test_sr_setup_of_the_paper_is_consistent",
    "consistency.Consistent.forward.z": f"{OPT}::test_consistent_passes_the_seed_and_projects_the_output",
    "consistency.LinearOperator.A.check": f"{OPT}::test_unchecked_operator_paths_equal_the_checked_ones",
    "consistency.LinearOperator.A_adjoint.check": f"{OPT}::test_unchecked_operator_paths_equal_the_checked_ones",
    "consistency.LinearOperator.A_pinv.check": f"{OPT}::test_unchecked_operator_paths_equal_the_checked_ones",
    "consistency.LinearOperator.project.check": f"{OPT}::test_unchecked_operator_paths_equal_the_checked_ones",
    "consistency.PartialCirculant.__init__.generator": "tests/consistency/test_circulant.py::test_random_draws_follow_the_paper_and_are_reproducible",
    "consistency.PartialCirculant.__init__.tol": f"{OPT}::test_partial_circulant_tol_bounds_the_consistency_residual",
    "consistency.PartialCirculant.__init__.max_iter": "tests/consistency/test_circulant.py::test_square_case_is_solved_in_one_preconditioned_step",
    "consistency.consistency_psnr.data_range": "tests/consistency/test_projection.py::test_consistency_psnr_against_the_closed_form",
    "consistency.LinearOperator.measurement_psnr.data_range": f"{OPT}::test_measurement_psnr_data_range_closed_form",
    "consistency.Inpainting.measurement_psnr.data_range": f"{OPT}::test_measurement_psnr_data_range_closed_form",
    "consistency.is_consistent.psnr_db": "tests/consistency/test_projection.py::test_consistency_psnr_against_the_closed_form",
    "consistency.is_consistent.data_range": "tests/consistency/test_projection.py::test_consistency_psnr_against_the_closed_form",
    "consistency.project.check": f"{OPT}::test_unchecked_operator_paths_equal_the_checked_ones",
    # ------------------------------------------------------------------ estimator, nets
    "estimator.Estimator.__init__.seed_shape": "tests/test_estimator.py::test_stochastic_equals_per_seed_loop",
    "estimator.Estimator.__init__.seed_sampler": "tests/test_estimator.py::test_structured_seeds_equal_loop",
    "estimator.Estimator.__init__.max_batch": "tests/test_estimator.py::test_stochastic_equals_per_seed_loop",
    "estimator.Estimator.__init__.eval_mode": "tests/test_estimator.py::test_model_state_is_left_unchanged",
    "estimator.Estimator.__init__.modules": "tests/test_guard.py::test_explicit_modules_escape_hatch",
    "estimator.Estimator.guarded.freeze": f"{OPT}::test_estimator_guarded_freeze_and_eval_mode",
    "estimator.Estimator.guarded.eval_mode": f"{OPT}::test_estimator_guarded_freeze_and_eval_mode",
    "estimator.Estimator.sample_seeds.generator": "tests/test_estimator.py::test_generator_reproducibility",
    "estimator.Estimator.sample.generator": "tests/test_estimator.py::test_generator_reproducibility",
    "nets.UNet.__init__.in_channels": "tests/test_nets_reference.py::test_unet_matches_the_functional_reference",
    "nets.UNet.__init__.out_channels": "tests/test_nets_reference.py::test_unet_matches_the_functional_reference",
    "nets.UNet.__init__.s": "tests/test_nets_reference.py::test_unet_matches_the_functional_reference",
    "nets.UNet.__init__.depth": "tests/test_nets_reference.py::test_unet_matches_the_functional_reference",
    "nets.UNet.__init__.seed_channels": "tests/test_nets_reference.py::test_unet_matches_the_functional_reference",
    "nets.UNet.seed_sampler.generator": "tests/test_nets_reference.py::test_estimator_seed_sampler_draws_one_standard_normal_seed_per_level",
    "nets.UNet.estimator.stochastic": "tests/test_nets_reference.py::test_estimator_seed_sampler_draws_one_standard_normal_seed_per_level",
    "nets.UNet.estimator.max_batch": "tests/test_nets.py::test_estimator_fused_equals_loop_and_is_differentiable",
    "nets.UNet.estimator.eval_mode": f"{OPT}::test_unet_estimator_eval_mode_false_uses_batch_statistics",
    "nets.UNet.forward.z": "tests/test_nets_reference.py::test_each_seed_level_enters_at_its_block_and_none_means_zero",
}

# Arguments a named test passes positionally, under these local names.
POSITIONAL: dict[str, str] = {
    "metrics.w2_empirical.weights_a": "wa",
    "metrics.w2_empirical.weights_b": "wb",
    "sensitivity.Protocol.__init__.budget": "level",
}

_NAMES_ONLY = "names the argument in error messages only"
_RANGE_CHECK = (
    "validates that the inputs lie in [0, data_range] (None skips the check); the value "
    "does not depend on it"
)
_GROUP = (
    "the process group the states are gathered over (None: the default group); on one "
    "process a no-op, and the gathered value is the one-process value "
    "(tests/metrics/test_distributed.py::test_two_ranks_equal_one_process)"
)
_SYNC = (
    "whether compute() first gathers the other ranks' states; without an initialised "
    "process group compute() is the local value either way (placement of the reduction)"
)
_STATES = (
    "CertifiedRateState", "FrechetState", "MeanState", "MetricState", "PRDCState",
    "PSNRState", "PixelStdState", "SSIMState",
)  # fmt: skip
NOT_RESULT_CHANGING: dict[str, str] = {
    **{f"metrics.{cls}.__init__.group": _GROUP for cls in _STATES},
    **{f"metrics.{cls}.__init__.sync_on_compute": _SYNC for cls in _STATES},
    "metrics.MetricState.sync.group": _GROUP,
    "sensitivity.RobustnessAggregator.__init__.group": _GROUP,
    "sensitivity.RobustnessAggregator.__init__.sync_on_compute": _SYNC,
    "metrics.sharded_prdc.group": _GROUP,
    "sensitivity.w2_sensitivity_at.data_range": _RANGE_CHECK,
    "sensitivity.local_lipschitz.data_range": _RANGE_CHECK,
    "sensitivity.explore.data_range": _RANGE_CHECK,
    "sensitivity.lipschitz_lower_bound.data_range": _RANGE_CHECK,
    "sensitivity.sensitivity_at.warn": "emits or silences the ConvergenceWarning; the result is the same",
    "sensitivity.Problem.__init__.random_start": "changes the message of the zero-gradient error only",
    "sensitivity.SensitivityResult.__init__.diagnostics": "a field of the result record, stored as given",
    "sensitivity.W2SensitivityResult.__init__.diagnostics": "a field of the result record, stored as given",
    "estimator.Estimator.guarded.arg": _NAMES_ONLY,
    "sensitivity.robustness.progress": "shows or hides a progress bar on stderr",
    "sensitivity.robustness.device": "moves each batch before the computation (placement only)",
    "sensitivity.clip_box.check": "skips validation of already-validated arguments",
    "consistency.BlurDownsample.__init__.boundary": "'circular' is the only accepted value",
    "consistency.LinearOperator.check_pair.x_name": _NAMES_ONLY,
    "consistency.LinearOperator.check_pair.y_name": _NAMES_ONLY,
    **{
        f"consistency.{cls}.{meth}.name": _NAMES_ONLY
        for cls in (
            "Colorization",
            "DeepinvOperator",
            "Downsampling",
            "Inpainting",
            "LinearOperator",
            "PartialCirculant",
        )
        for meth in ("range_shape", "domain_shape")
    },
}


def _callables() -> Iterator[tuple[str, Callable[..., object]]]:
    for modname in MODULES:
        module = importlib.import_module(modname)
        short = modname.removeprefix("stochrobust.")
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                if issubclass(obj, BaseException) or not obj.__module__.startswith("stochrobust"):
                    continue
                for attr, member in vars(obj).items():
                    if attr != "__init__" and attr.startswith("_"):
                        continue
                    if isinstance(member, (classmethod, staticmethod)):
                        member = member.__func__
                    if inspect.isfunction(member):
                        yield f"{short}.{name}.{attr}", member
            elif inspect.isfunction(obj):
                yield f"{short}.{name}", obj


def _defaulted_parameters() -> list[str]:
    out = []
    for qualname, fn in _callables():
        params = inspect.signature(fn).parameters
        for param in params.values():
            if param.name == "norm" and "ball" in params:
                continue  # the deprecated 0.1 spelling of `ball` (warns, same meaning)
            if param.default is not inspect.Parameter.empty:
                out.append(f"{qualname}.{param.name}")
    return sorted(set(out))


@cache
def _test_sources(path: str) -> dict[str, str]:
    """Each test's source with its decorators and the module-level constants it names."""
    source = (ROOT / path).read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines()
    constants = {
        target.id: ast.get_source_segment(source, node) or ""
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            text = "\n".join(lines[start - 1 : node.end_lineno])
            named = {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)}
            out[node.name] = "\n".join([text, *(constants[n] for n in named if n in constants)])
    return out


def test_every_defaulted_argument_is_classified() -> None:
    params = _defaulted_parameters()
    assert len(params) > 100  # the walk found the API
    missing = [p for p in params if p not in COVERED and p not in NOT_RESULT_CHANGING]
    assert not missing, f"name a value test (COVERED) or a reason for: {missing}"
    both = sorted(set(COVERED) & set(NOT_RESULT_CHANGING))
    assert not both, both
    stale = sorted((set(COVERED) | set(NOT_RESULT_CHANGING)) - set(params))
    assert not stale, f"entries for arguments that no longer exist: {stale}"


@pytest.mark.parametrize("param", sorted(COVERED))
def test_named_value_test_exists_and_passes_the_argument(param) -> None:
    path, _, test_name = COVERED[param].partition("::")
    sources = _test_sources(path)
    assert test_name in sources, f"{param}: {COVERED[param]} does not exist"
    argument = param.rsplit(".", 1)[1]
    words = [argument, *([POSITIONAL[param]] if param in POSITIONAL else [])]
    words += ["BALL_KW"] if argument == "ball" else []
    source = sources[test_name]
    assert any(re.search(rf"\b{w}\b", source) for w in words), (
        f"{param}: {COVERED[param]} does not mention {argument!r}"
    )
